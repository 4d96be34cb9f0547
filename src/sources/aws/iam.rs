//! AWS IAM (global: one scope per account, region `global`): GetAccountAuthorizationDetails
//! paged to the end (users, groups, roles with trust policies, customer-managed policies with
//! their default version, inline policies, managed-policy attachments, group memberships),
//! then ListAccessKeys and GetLoginProfile per user. Policy documents are decoded and
//! canonicalized (`model::iam`); volatile fields (last-used dates, create dates of documents)
//! never enter the attributes.

mod entity;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_iam::types::{
    AccessKeyMetadata, AttachedPolicy, EntityType, GroupDetail, ManagedPolicyDetail, PolicyDetail,
    RoleDetail, Tag, UserDetail,
};
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::classify;
use super::limit::Throttle;
use crate::cloudtrail::Target;
use crate::model::{FailureKind, Kind, Resource, ResourceKey, Scope, iam};
use crate::sources::{PollFuture, RereadFuture, RereadRequest, Source, observation};

pub struct IamSource {
    scope: Scope,
    client: aws_sdk_iam::Client,
    throttle: Arc<Throttle>,
    check: Arc<super::identity::AccountCheck>,
    /// Users whose per-user calls run at once (the bucket's burst, 1 to 32).
    per_user_concurrency: usize,
    /// IAM's CloudTrail events live in us-east-1 (`[aws.lookup]`).
    lookup: Option<Arc<super::lookup::TrailLookup>>,
}

impl IamSource {
    pub fn new(
        account: String,
        client: aws_sdk_iam::Client,
        throttle: Arc<Throttle>,
        check: Arc<super::identity::AccountCheck>,
        per_user_concurrency: usize,
    ) -> Self {
        IamSource {
            scope: Scope::Aws {
                account: account.into(),
                region: "global".into(),
            },
            client,
            throttle,
            check,
            per_user_concurrency: per_user_concurrency.clamp(1, 32),
            lookup: None,
        }
    }

    /// Look changes up in us-east-1's CloudTrail, where IAM's events are (`[aws.lookup]`).
    pub fn with_lookup(mut self, l: Option<Arc<super::lookup::TrailLookup>>) -> Self {
        self.lookup = l;
        self
    }

    async fn list(&self) -> Result<Vec<Resource>, (FailureKind, String)> {
        let mut gaad = Gaad::default();
        let mut marker: Option<String> = None;
        let mut pages = super::paging::Pages::new();
        loop {
            self.throttle
                .acquire("GetAccountAuthorizationDetails")
                .await;
            let resp = self
                .client
                .get_account_authorization_details()
                // AWS-managed policies are not the account's to change (hundreds of them);
                // attachments of them still come with each user, group and role.
                .filter(EntityType::User)
                .filter(EntityType::Group)
                .filter(EntityType::Role)
                .filter(EntityType::LocalManagedPolicy)
                .max_items(1000)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| {
                    let (kind, msg) = classify(&e);
                    (
                        kind,
                        format!(
                            "GetAccountAuthorizationDetails page {}: {msg}",
                            pages.count() + 1
                        ),
                    )
                })?;
            gaad.users.extend(resp.user_detail_list().iter().cloned());
            gaad.groups.extend(resp.group_detail_list().iter().cloned());
            gaad.roles.extend(resp.role_detail_list().iter().cloned());
            gaad.policies.extend(resp.policies().iter().cloned());
            if resp.is_truncated() && resp.marker().is_none_or(str::is_empty) {
                return Err((
                    FailureKind::InvalidResponse,
                    "GetAccountAuthorizationDetails is truncated but gave no Marker".into(),
                ));
            }
            let next = resp.marker().filter(|_| resp.is_truncated());
            marker = pages
                .next("GetAccountAuthorizationDetails", next)
                .map_err(|m| (FailureKind::InvalidResponse, m))?;
            if marker.is_none() {
                break;
            }
        }
        // Two calls per user (ListAccessKeys, GetLoginProfile): thousands in a large account,
        // so they run concurrently (at most `per_user_concurrency` users at once), each still
        // taking its token from the account's bucket, which sets the pace. The first failure
        // fails the listing.
        let names: Vec<String> = gaad
            .users
            .iter()
            .filter_map(|u| u.user_name().map(str::to_string))
            .collect();
        let per_user: Vec<(String, Vec<AccessKeyMetadata>, bool)> = futures::stream::iter(names)
            .map(|name| async move {
                let keys = self.access_keys(&name).await?;
                let console = self.has_login_profile(&name).await?;
                Ok::<_, (FailureKind, String)>((name, keys, console))
            })
            .buffer_unordered(self.per_user_concurrency)
            .try_collect()
            .await?;
        let mut extra = PerUser::default();
        for (name, keys, console) in per_user {
            extra.keys.insert(name.clone(), keys);
            extra.console.insert(name, console);
        }
        normalize(&self.scope, &gaad, &extra).map_err(|m| (FailureKind::InvalidResponse, m))
    }

    async fn access_keys(
        &self,
        user: &str,
    ) -> Result<Vec<AccessKeyMetadata>, (FailureKind, String)> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        let mut pages = super::paging::Pages::new();
        loop {
            self.throttle.acquire("ListAccessKeys").await;
            let resp = self
                .client
                .list_access_keys()
                .user_name(user)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| {
                    let (kind, msg) = classify(&e);
                    (kind, format!("ListAccessKeys {user}: {msg}"))
                })?;
            out.extend(resp.access_key_metadata().iter().cloned());
            if resp.is_truncated() && resp.marker().is_none_or(str::is_empty) {
                return Err((
                    FailureKind::InvalidResponse,
                    format!("ListAccessKeys {user}: truncated but gave no Marker"),
                ));
            }
            let next = resp.marker().filter(|_| resp.is_truncated());
            marker = pages
                .next(&format!("ListAccessKeys {user}"), next)
                .map_err(|m| (FailureKind::InvalidResponse, m))?;
            if marker.is_none() {
                return Ok(out);
            }
        }
    }

    async fn has_login_profile(&self, user: &str) -> Result<bool, (FailureKind, String)> {
        self.throttle.acquire("GetLoginProfile").await;
        match self.client.get_login_profile().user_name(user).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception()) =>
            {
                Ok(false)
            }
            Err(e) => {
                let (kind, msg) = classify(&e);
                Err((kind, format!("GetLoginProfile {user}: {msg}")))
            }
        }
    }
}

impl Source for IamSource {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn service(&self) -> &'static str {
        "aws.iam"
    }

    fn poll(&self, observed_at: Timestamp) -> PollFuture<'_> {
        Box::pin(async move {
            let listed = match self.check.verify(observed_at).await {
                Ok(()) => self.list().await,
                Err(e) => Err(e),
            };
            observation(&self.scope, observed_at, listed)
        })
    }

    fn lookup(
        &self,
        resource: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Option<crate::sources::LookupFuture<'_>> {
        super::lookup::lookup_future(self.lookup.as_ref(), resource, start, end)
    }

    fn reread(&self, request: &RereadRequest, observed_at: Timestamp) -> Option<RereadFuture<'_>> {
        let name = match &request.target {
            Target::IamUser { name } | Target::IamRole { name } | Target::IamGroup { name } => {
                Some(name.as_str())
            }
            Target::IamPolicy { .. } => None,
            Target::SecurityGroup { .. } => return None,
        };
        let request = request.clone();
        let bad_name = name.filter(|n| !entity::is_iam_name(n)).map(str::to_string);
        Some(Box::pin(async move {
            if let Some(n) = bad_name {
                return Err((
                    FailureKind::InvalidResponse,
                    format!("`{n}` is not an IAM name"),
                ));
            }
            // An AWS-managed policy (or an ARN that names no policy) is nothing this source
            // stores: an empty coverage reads nothing.
            let Some(_) = entity::coverage(&request.target, &[]) else {
                return Ok((crate::model::Coverage::new(), Vec::new()));
            };
            self.check.verify(observed_at).await?;
            let resources = self.read_entity(&request.target).await?;
            let mut keys = request.access_keys.clone();
            keys.extend(
                resources
                    .iter()
                    .filter(|r| r.key.kind == Kind::IamAccessKey)
                    .map(|r| r.key.id.clone()),
            );
            let coverage = entity::coverage(&request.target, &keys).unwrap_or_default();
            Ok((coverage, resources))
        }))
    }
}

/// Every page of GetAccountAuthorizationDetails, merged.
#[derive(Default, Debug, Clone)]
pub struct Gaad {
    pub users: Vec<UserDetail>,
    pub groups: Vec<GroupDetail>,
    pub roles: Vec<RoleDetail>,
    pub policies: Vec<ManagedPolicyDetail>,
}

/// What the per-user calls found.
#[derive(Default, Debug, Clone)]
pub struct PerUser {
    pub keys: BTreeMap<String, Vec<AccessKeyMetadata>>,
    pub console: BTreeMap<String, bool>,
}

fn tags(t: &[Tag]) -> BTreeMap<String, String> {
    t.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

fn res(
    scope: &Scope,
    kind: Kind,
    id: String,
    name: String,
    targets: Vec<String>,
    tags: BTreeMap<String, String>,
    attributes: Value,
) -> Resource {
    Resource::new(
        ResourceKey {
            scope: scope.clone(),
            kind,
            id,
        },
        name,
        targets,
        tags,
        attributes,
    )
}

fn doc(text: Option<&str>, what: &str) -> Result<Value, String> {
    match text {
        Some(t) => iam::canonical_text(t).map_err(|e| format!("{what}: {e}")),
        None => Ok(Value::Null),
    }
}

fn inline(
    scope: &Scope,
    entity_type: &str,
    entity: &str,
    arn: &str,
    p: &PolicyDetail,
    out: &mut Vec<Resource>,
) -> Result<(), String> {
    let name = p.policy_name().unwrap_or("").to_string();
    let document = doc(
        p.policy_document(),
        &format!("inline policy {name} of {entity_type} {entity}"),
    )?;
    out.push(res(
        scope,
        Kind::IamInlinePolicy,
        format!("{entity_type}/{entity}/{name}"),
        format!("{entity_type} {entity} inline policy {name}"),
        vec![entity.to_string(), arn.to_string(), name.clone()],
        BTreeMap::new(),
        json!({ "entity_type": entity_type, "entity": entity, "policy_name": name, "document": document }),
    ));
    Ok(())
}

fn attachment(
    scope: &Scope,
    entity_type: &str,
    entity: &str,
    arn: &str,
    p: &AttachedPolicy,
    out: &mut Vec<Resource>,
) {
    let policy_arn = p.policy_arn().unwrap_or("").to_string();
    let policy_name = p
        .policy_name()
        .map(str::to_string)
        .unwrap_or_else(|| policy_arn.rsplit('/').next().unwrap_or("").to_string());
    out.push(res(
        scope,
        Kind::IamPolicyAttachment,
        format!("{entity_type}/{entity}/{policy_arn}"),
        format!("{policy_name} attached to {entity_type} {entity}"),
        vec![entity.to_string(), arn.to_string(), policy_name.clone()],
        BTreeMap::new(),
        json!({ "entity_type": entity_type, "entity": entity, "policy_arn": policy_arn, "policy_name": policy_name }),
    ));
}

/// Normalize one account's IAM into resources. An entity without a name cannot be keyed and
/// fails the whole listing (as a partial answer would).
pub fn normalize(scope: &Scope, g: &Gaad, per_user: &PerUser) -> Result<Vec<Resource>, String> {
    let mut out = Vec::new();
    for u in &g.users {
        let name = u
            .user_name()
            .ok_or("a user in the answer has no UserName")?
            .to_string();
        let arn = u.arn().unwrap_or("").to_string();
        let console = per_user.console.get(&name).copied().unwrap_or(false);
        out.push(res(
            scope,
            Kind::IamUser,
            name.clone(),
            name.clone(),
            vec![name.clone(), arn.clone()],
            tags(u.tags()),
            json!({
                "arn": arn,
                "path": u.path(),
                "user_id": u.user_id(),
                "console_login": console,
                "permissions_boundary": u.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
            }),
        ));
        for p in u.user_policy_list() {
            inline(scope, "user", &name, &arn, p, &mut out)?;
        }
        for p in u.attached_managed_policies() {
            attachment(scope, "user", &name, &arn, p, &mut out);
        }
        for group in u.group_list() {
            out.push(res(
                scope,
                Kind::IamGroupMembership,
                format!("{group}/{name}"),
                format!("{name} in group {group}"),
                vec![group.clone(), name.clone()],
                BTreeMap::new(),
                json!({ "group": group, "user": name }),
            ));
        }
        for k in per_user.keys.get(&name).into_iter().flatten() {
            let Some(id) = k.access_key_id() else {
                continue;
            };
            out.push(res(
                scope,
                Kind::IamAccessKey,
                id.to_string(),
                format!("access key {id} of {name}"),
                vec![name.clone(), arn.clone(), id.to_string()],
                BTreeMap::new(),
                json!({
                    "user": name,
                    "status": k.status().map(|s| s.as_str()),
                    "created": k.create_date().map(|d| d.to_string()),
                }),
            ));
        }
    }
    for gr in &g.groups {
        let name = gr
            .group_name()
            .ok_or("a group in the answer has no GroupName")?
            .to_string();
        let arn = gr.arn().unwrap_or("").to_string();
        out.push(res(
            scope,
            Kind::IamGroup,
            name.clone(),
            name.clone(),
            vec![name.clone(), arn.clone()],
            BTreeMap::new(),
            json!({ "arn": arn, "path": gr.path() }),
        ));
        for p in gr.group_policy_list() {
            inline(scope, "group", &name, &arn, p, &mut out)?;
        }
        for p in gr.attached_managed_policies() {
            attachment(scope, "group", &name, &arn, p, &mut out);
        }
    }
    for r in &g.roles {
        let name = r
            .role_name()
            .ok_or("a role in the answer has no RoleName")?
            .to_string();
        let arn = r.arn().unwrap_or("").to_string();
        let trust = doc(
            r.assume_role_policy_document(),
            &format!("trust policy of role {name}"),
        )?;
        out.push(res(
            scope,
            Kind::IamRole,
            name.clone(),
            name.clone(),
            vec![name.clone(), arn.clone()],
            tags(r.tags()),
            json!({
                "arn": arn,
                "path": r.path(),
                "trust_policy": trust,
                "permissions_boundary": r.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
            }),
        ));
        for p in r.role_policy_list() {
            inline(scope, "role", &name, &arn, p, &mut out)?;
        }
        for p in r.attached_managed_policies() {
            attachment(scope, "role", &name, &arn, p, &mut out);
        }
    }
    for p in &g.policies {
        let arn = p
            .arn()
            .ok_or("a managed policy in the answer has no Arn")?
            .to_string();
        // AWS-managed policies are not the account's to change; their attachments are.
        if arn.starts_with("arn:aws:iam::aws:") {
            continue;
        }
        let name = p
            .policy_name()
            .map(str::to_string)
            .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or("").to_string());
        let default = p
            .policy_version_list()
            .iter()
            .find(|v| v.is_default_version())
            .or_else(|| {
                p.policy_version_list()
                    .iter()
                    .find(|v| v.version_id() == p.default_version_id())
            });
        let document = doc(
            default.and_then(|v| v.document()),
            &format!("managed policy {name}"),
        )?;
        out.push(res(
            scope,
            Kind::IamPolicy,
            name.clone(),
            name.clone(),
            vec![name.clone(), arn.clone()],
            BTreeMap::new(),
            json!({ "arn": arn, "path": p.path(), "document": document }),
        ));
    }
    Ok(out)
}
