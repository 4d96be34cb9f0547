//! Whole answers only: an AWS query-protocol answer (EC2, IAM, STS: XML) must end with the
//! closing tag of the element it opened with. The SDK's XML reader takes some answers cut
//! short at a clean point (HTTP complete, document not: a proxy or a connection that closed
//! mid-body with a matching length) as complete, and a listing cut that way reads as resources
//! deleted or renamed. This interceptor fails such a call before its output is used, so the
//! poll fails and the stored state stays (the chaos suite's `CHAOS_CUT_XML` finds it).

use aws_sdk_ec2::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;

/// Why an answer is not a whole XML document.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CutAnswer {
    #[error("the answer is not an XML document")]
    NotXml,
    #[error("the answer was cut short: it does not end with </{0}>")]
    Unclosed(String),
}

/// The root element's name, and whether the document ends by closing it.
pub fn check(body: &[u8]) -> Result<(), CutAnswer> {
    let text = std::str::from_utf8(body).map_err(|_| CutAnswer::NotXml)?;
    let mut rest = text.trim_start();
    // The declaration and comments before the root element.
    loop {
        if let Some(r) = rest.strip_prefix("<?") {
            rest = r.split_once("?>").ok_or(CutAnswer::NotXml)?.1.trim_start();
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.split_once("-->").ok_or(CutAnswer::NotXml)?.1.trim_start();
        } else {
            break;
        }
    }
    let open = rest.strip_prefix('<').ok_or(CutAnswer::NotXml)?;
    let name: String = open
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    if name.is_empty() {
        return Err(CutAnswer::NotXml);
    }
    let end = text.trim_end();
    // `<Root/>`: an empty document that is whole.
    let self_closed = open[name.len()..]
        .split_once('>')
        .is_some_and(|(attrs, _)| attrs.trim_end().ends_with('/'));
    if self_closed || end.ends_with(&format!("</{name}>")) {
        Ok(())
    } else {
        Err(CutAnswer::Unclosed(name))
    }
}

/// Registered on the EC2, IAM and STS clients.
#[derive(Debug, Default)]
pub struct WholeAnswers;

impl Intercept for WholeAnswers {
    fn name(&self) -> &'static str {
        "WholeAnswers"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        // Error answers are classified by their code; only a success is trusted as data.
        if !response.status().is_success() {
            return Ok(());
        }
        match response.body().bytes() {
            Some(body) => check(body).map_err(Into::into),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_and_cut_answers() {
        let whole = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><securityGroupInfo><item><groupId>sg-1</groupId><groupName>batch</groupName></item></securityGroupInfo></DescribeSecurityGroupsResponse>
"#;
        assert_eq!(check(whole.as_bytes()), Ok(()));
        let cut = &whole[..whole.find("batch").expect("name") + 3];
        assert_eq!(
            check(cut.as_bytes()),
            Err(CutAnswer::Unclosed("DescribeSecurityGroupsResponse".into()))
        );
        assert_eq!(
            check(br#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Account>1</Account></GetCallerIdentityResult></GetCallerIdentityResponse>"#),
            Ok(())
        );
        assert_eq!(check(b"<!-- x --><Empty/>"), Ok(()));
        assert_eq!(check(b""), Err(CutAnswer::NotXml));
        assert_eq!(check(b"{\"json\": true}"), Err(CutAnswer::NotXml));
        assert_eq!(check(b"<?xml version=\"1.0\""), Err(CutAnswer::NotXml));
        assert_eq!(
            check(b"<A><B></B></A"),
            Err(CutAnswer::Unclosed("A".into()))
        );
    }
}
