//! Targeted re-reads of one IAM entity (a user, role, group or customer-managed policy)
//! after a CloudTrail event named it: the entity's own Get call, its inline and attached
//! policies (and for a user its groups, access keys and console login), assembled into the
//! detail types GetAccountAuthorizationDetails answers with and normalized by the same
//! `normalize`, so a re-read of an unchanged entity is identical to what the poll stored.
//! `NoSuchEntity` on the entity's own Get is a proven absence (the entity and everything it
//! owns are gone); anywhere later it is a race with another change and fails the read.

use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::types::{
    AttachedPolicy, GroupDetail, ManagedPolicyDetail, PolicyDetail, RoleDetail, UserDetail,
};

use super::{Gaad, IamSource, PerUser, normalize};
use crate::cloudtrail::Target;
use crate::model::{Coverage, FailureKind, IdMatch, Kind, Resource};

type ReadResult<T> = Result<T, (FailureKind, String)>;

/// The entity's kind as the stored ids spell it (`user/alice/...`).
fn owned(entity_type: &str, name: &str) -> Coverage {
    Coverage::new()
        .with(
            Kind::IamInlinePolicy,
            IdMatch::Prefix(format!("{entity_type}/{name}/")),
        )
        .with(
            Kind::IamPolicyAttachment,
            IdMatch::Prefix(format!("{entity_type}/{name}/")),
        )
}

/// What a re-read of `target` answers for. A user's access keys are keyed by key id alone,
/// so the read covers the keys it lists and those the events named (a deleted one included).
pub fn coverage(target: &Target, keys: &[String]) -> Option<Coverage> {
    Some(match target {
        Target::IamUser { name } => {
            let mut c = owned("user", name)
                .with(Kind::IamUser, IdMatch::Exact(name.clone()))
                .with(
                    Kind::IamGroupMembership,
                    IdMatch::Suffix(format!("/{name}")),
                );
            for k in keys {
                c = c.with(Kind::IamAccessKey, IdMatch::Exact(k.clone()));
            }
            c
        }
        Target::IamRole { name } => {
            owned("role", name).with(Kind::IamRole, IdMatch::Exact(name.clone()))
        }
        Target::IamGroup { name } => {
            owned("group", name).with(Kind::IamGroup, IdMatch::Exact(name.clone()))
        }
        Target::IamPolicy { arn } => Coverage::new().with(
            Kind::IamPolicy,
            IdMatch::Exact(policy_name(arn)?.to_string()),
        ),
        Target::SecurityGroup { .. } => return None,
    })
}

/// IAM names are `[\w+=,.@-]+` (no slash): anything else in an event is not used as a key.
pub fn is_iam_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// A customer-managed policy's name from its ARN; AWS-managed policies are not watched.
fn policy_name(arn: &str) -> Option<&str> {
    if arn.starts_with("arn:aws:iam::aws:") || !arn.contains(":policy/") {
        return None;
    }
    arn.rsplit('/').next().filter(|n| is_iam_name(n))
}

fn no_such_entity<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_iam::error::ProvideErrorMetadata,
{
    aws_sdk_iam::error::ProvideErrorMetadata::code(e) == Some("NoSuchEntity")
}

fn failed<E, R>(call: &str, e: &SdkError<E, R>) -> (FailureKind, String)
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (kind, msg) = super::classify(e);
    (kind, format!("{call}: {msg}"))
}

/// Follow `Marker`s to the end (the poll's loop tracker refuses a repeated one).
macro_rules! paged {
    ($self:ident, $call:literal, $what:expr, |$marker:ident| $send:expr, |$resp:ident| $take:expr) => {{
        let mut out = Vec::new();
        let mut $marker: Option<String> = None;
        let mut pages = crate::sources::aws::paging::Pages::new();
        loop {
            $self.throttle.acquire($call).await;
            let $resp = $send
                .await
                .map_err(|e| failed(&format!("{} {}", $call, $what), &e))?;
            out.extend($take);
            let next = $resp.marker().filter(|_| $resp.is_truncated());
            $marker = pages
                .next($call, next)
                .map_err(|m| (FailureKind::InvalidResponse, m))?;
            if $marker.is_none() {
                break;
            }
        }
        out
    }};
}

impl IamSource {
    /// Re-read one entity: its resources as the poll would store them.
    pub(super) async fn read_entity(&self, target: &Target) -> ReadResult<Vec<Resource>> {
        let mut gaad = Gaad::default();
        let mut extra = PerUser::default();
        match target {
            Target::IamUser { name } => {
                if let Some(u) = self.read_user(name, &mut extra).await? {
                    gaad.users.push(u);
                }
            }
            Target::IamRole { name } => gaad.roles.extend(self.read_role(name).await?),
            Target::IamGroup { name } => gaad.groups.extend(self.read_group(name).await?),
            Target::IamPolicy { arn } => gaad.policies.extend(self.read_policy(arn).await?),
            Target::SecurityGroup { .. } => return Ok(Vec::new()),
        }
        normalize(&self.scope, &gaad, &extra).map_err(|m| (FailureKind::InvalidResponse, m))
    }

    async fn inline_docs<F, Fut>(&self, names: Vec<String>, get: F) -> ReadResult<Vec<PolicyDetail>>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = ReadResult<Option<String>>>,
    {
        let mut out = Vec::new();
        for n in names {
            let doc = get(n.clone()).await?;
            out.push(
                PolicyDetail::builder()
                    .policy_name(n)
                    .set_policy_document(doc)
                    .build(),
            );
        }
        Ok(out)
    }

    async fn read_user(&self, name: &str, extra: &mut PerUser) -> ReadResult<Option<UserDetail>> {
        self.throttle.acquire("GetUser").await;
        let user = match self.client.get_user().user_name(name).send().await {
            Ok(r) => match r.user {
                Some(u) => u,
                None => {
                    return Err((
                        FailureKind::InvalidResponse,
                        format!("GetUser {name}: no User"),
                    ));
                }
            },
            Err(e) if no_such_entity(&e) => return Ok(None),
            Err(e) => return Err(failed(&format!("GetUser {name}"), &e)),
        };
        let c = &self.client;
        let names: Vec<String> = paged!(
            self,
            "ListUserPolicies",
            name,
            |m| c
                .list_user_policies()
                .user_name(name)
                .set_marker(m.clone())
                .send(),
            |r| r.policy_names().to_vec()
        );
        let inline = self
            .inline_docs(names, |p| async move {
                self.throttle.acquire("GetUserPolicy").await;
                c.get_user_policy()
                    .user_name(name)
                    .policy_name(&p)
                    .send()
                    .await
                    .map(|r| Some(r.policy_document))
                    .map_err(|e| failed(&format!("GetUserPolicy {name} {p}"), &e))
            })
            .await?;
        let attached: Vec<AttachedPolicy> = paged!(
            self,
            "ListAttachedUserPolicies",
            name,
            |m| c
                .list_attached_user_policies()
                .user_name(name)
                .set_marker(m.clone())
                .send(),
            |r| r.attached_policies().to_vec()
        );
        let groups: Vec<String> = paged!(
            self,
            "ListGroupsForUser",
            name,
            |m| c
                .list_groups_for_user()
                .user_name(name)
                .set_marker(m.clone())
                .send(),
            |r| r
                .groups()
                .iter()
                .map(|g| g.group_name().to_string())
                .collect::<Vec<_>>()
        );
        extra
            .keys
            .insert(name.to_string(), self.access_keys(name).await?);
        extra
            .console
            .insert(name.to_string(), self.has_login_profile(name).await?);
        Ok(Some(
            UserDetail::builder()
                .user_name(user.user_name())
                .arn(user.arn())
                .path(user.path())
                .user_id(user.user_id())
                .set_permissions_boundary(user.permissions_boundary().cloned())
                .set_tags(Some(user.tags().to_vec()))
                .set_user_policy_list(Some(inline))
                .set_attached_managed_policies(Some(attached))
                .set_group_list(Some(groups))
                .build(),
        ))
    }

    async fn read_role(&self, name: &str) -> ReadResult<Option<RoleDetail>> {
        self.throttle.acquire("GetRole").await;
        let role = match self.client.get_role().role_name(name).send().await {
            Ok(r) => match r.role {
                Some(x) => x,
                None => {
                    return Err((
                        FailureKind::InvalidResponse,
                        format!("GetRole {name}: no Role"),
                    ));
                }
            },
            Err(e) if no_such_entity(&e) => return Ok(None),
            Err(e) => return Err(failed(&format!("GetRole {name}"), &e)),
        };
        let c = &self.client;
        let names: Vec<String> = paged!(
            self,
            "ListRolePolicies",
            name,
            |m| c
                .list_role_policies()
                .role_name(name)
                .set_marker(m.clone())
                .send(),
            |r| r.policy_names().to_vec()
        );
        let inline = self
            .inline_docs(names, |p| async move {
                self.throttle.acquire("GetRolePolicy").await;
                c.get_role_policy()
                    .role_name(name)
                    .policy_name(&p)
                    .send()
                    .await
                    .map(|r| Some(r.policy_document))
                    .map_err(|e| failed(&format!("GetRolePolicy {name} {p}"), &e))
            })
            .await?;
        let attached: Vec<AttachedPolicy> = paged!(
            self,
            "ListAttachedRolePolicies",
            name,
            |m| c
                .list_attached_role_policies()
                .role_name(name)
                .set_marker(m.clone())
                .send(),
            |r| r.attached_policies().to_vec()
        );
        Ok(Some(
            RoleDetail::builder()
                .role_name(role.role_name())
                .arn(role.arn())
                .path(role.path())
                .role_id(role.role_id())
                .set_assume_role_policy_document(
                    role.assume_role_policy_document().map(str::to_string),
                )
                .set_permissions_boundary(role.permissions_boundary().cloned())
                .set_tags(Some(role.tags().to_vec()))
                .set_role_policy_list(Some(inline))
                .set_attached_managed_policies(Some(attached))
                .build(),
        ))
    }

    async fn read_group(&self, name: &str) -> ReadResult<Option<GroupDetail>> {
        self.throttle.acquire("GetGroup").await;
        let group = match self
            .client
            .get_group()
            .group_name(name)
            .max_items(1)
            .send()
            .await
        {
            Ok(r) => match r.group {
                Some(g) => g,
                None => {
                    return Err((
                        FailureKind::InvalidResponse,
                        format!("GetGroup {name}: no Group"),
                    ));
                }
            },
            Err(e) if no_such_entity(&e) => return Ok(None),
            Err(e) => return Err(failed(&format!("GetGroup {name}"), &e)),
        };
        let c = &self.client;
        let names: Vec<String> = paged!(
            self,
            "ListGroupPolicies",
            name,
            |m| c
                .list_group_policies()
                .group_name(name)
                .set_marker(m.clone())
                .send(),
            |r| r.policy_names().to_vec()
        );
        let inline = self
            .inline_docs(names, |p| async move {
                self.throttle.acquire("GetGroupPolicy").await;
                c.get_group_policy()
                    .group_name(name)
                    .policy_name(&p)
                    .send()
                    .await
                    .map(|r| Some(r.policy_document))
                    .map_err(|e| failed(&format!("GetGroupPolicy {name} {p}"), &e))
            })
            .await?;
        let attached: Vec<AttachedPolicy> = paged!(
            self,
            "ListAttachedGroupPolicies",
            name,
            |m| c
                .list_attached_group_policies()
                .group_name(name)
                .set_marker(m.clone())
                .send(),
            |r| r.attached_policies().to_vec()
        );
        Ok(Some(
            GroupDetail::builder()
                .group_name(group.group_name())
                .arn(group.arn())
                .path(group.path())
                .group_id(group.group_id())
                .set_group_policy_list(Some(inline))
                .set_attached_managed_policies(Some(attached))
                .build(),
        ))
    }

    async fn read_policy(&self, arn: &str) -> ReadResult<Option<ManagedPolicyDetail>> {
        self.throttle.acquire("GetPolicy").await;
        let policy = match self.client.get_policy().policy_arn(arn).send().await {
            Ok(r) => match r.policy {
                Some(p) => p,
                None => {
                    return Err((
                        FailureKind::InvalidResponse,
                        format!("GetPolicy {arn}: no Policy"),
                    ));
                }
            },
            Err(e) if no_such_entity(&e) => return Ok(None),
            Err(e) => return Err(failed(&format!("GetPolicy {arn}"), &e)),
        };
        let Some(version) = policy.default_version_id() else {
            return Err((
                FailureKind::InvalidResponse,
                format!("GetPolicy {arn}: no DefaultVersionId"),
            ));
        };
        self.throttle.acquire("GetPolicyVersion").await;
        let v = self
            .client
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| failed(&format!("GetPolicyVersion {arn} {version}"), &e))?;
        Ok(Some(
            ManagedPolicyDetail::builder()
                .set_policy_name(policy.policy_name().map(str::to_string))
                .arn(arn)
                .set_path(policy.path().map(str::to_string))
                .default_version_id(version)
                .set_policy_version_list(v.policy_version.map(|pv| vec![pv]))
                .build(),
        ))
    }
}
