//! reqsign (the signer OpenDAL uses) as a second reference next to the official SDKs.
//!
//! reqsign signs at the current time (its clock can't be pinned from outside), so each case reads
//! the time reqsign used from its URL and signs with ls-presign at that time. reqsign's OSS V1
//! presigning signs the same string as ls-presign, so the signatures must be equal. Its V4 presigning signs `host` as an additional header, a different (valid) choice,
//! so its URLs differ from ours; both must then be accepted by the OSS emulator's independent
//! verifier for the same object, time and credentials — and by the running emulator.

use std::time::Duration;

use ls_presign::sign::{Addressing, Credentials, OssV1, OssV4, Request, Signer, Target};
use oss_emulator::{BucketConfig, CorsRule, Credential as EmuCredential, RequestParts, verify};
use reqsign_aliyun_oss::{Credential, RequestSigner, SigningVersion};
use reqsign_core::{Context, SignRequest};
const KEYS: [&str; 6] = [
    "a.jpg",
    "dir/with space.png",
    "猫 🐱.png",
    "plus+and%25.png",
    "x//y.png",
    " lead and trail ",
];

fn bucket() -> BucketConfig {
    BucketConfig {
        name: "bkt".into(),
        region: "cn-hangzhou".into(),
        allow_v1: true,
        cors: CorsRule::None,
    }
}

fn creds(token: Option<&str>) -> (Credentials, Credential, EmuCredential) {
    (
        Credentials::new("AKID", "SECRET", token.map(str::to_owned)),
        Credential {
            access_key_id: "AKID".into(),
            access_key_secret: "SECRET".into(),
            security_token: token.map(str::to_owned),
            expires_in: None,
        },
        EmuCredential {
            access_key_id: "AKID".into(),
            access_key_secret: "SECRET".into(),
            security_token: token.map(str::to_owned),
        },
    )
}

async fn reqsign_url(version: SigningVersion, url: &str, cred: &Credential) -> String {
    let signer = RequestSigner::new("bkt")
        .with_region("cn-hangzhou")
        .with_signing_version(version);
    let mut parts = http::Request::get(url).body(()).unwrap().into_parts().0;
    signer
        .sign_request(&Context::new(), &mut parts, Some(cred), Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    parts.uri.to_string()
}

/// The request the emulator sees for `url` (virtual-hosted on bkt.oss-cn-hangzhou...).
fn parts(url: &str) -> RequestParts {
    let u = url::Url::parse(url).unwrap();
    let host = u.host_str().unwrap().to_owned();
    let mut headers = vec![("host".to_owned(), host.clone())];
    headers.sort();
    RequestParts {
        method: "GET".into(),
        path: u.path().to_owned(),
        query: u.query().unwrap_or("").to_owned(),
        headers,
        host,
    }
}

/// A query parameter of `url`.
fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .1
        .into_owned()
}

#[tokio::test]
async fn reqsign_agrees_with_ls_presign() {
    let target = Target::parse("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Virtual).unwrap();
    for token in [None, Some("sts-token/with+odd=chars")] {
        let (ours, theirs, emu) = creds(token);
        let v4 = Signer::OssV4(OssV4::new(ours.clone(), "cn-hangzhou"));
        let v1 = Signer::OssV1(OssV1::new(ours));
        for key in KEYS {
            let req = |signed_at| Request {
                method: "GET",
                bucket: "bkt",
                key,
                signed_at,
                expires_in: 3600,
            };
            let object_url = target.object_url("bkt", key);

            // V1: the same string to sign, so the same signature.
            let reqsign_v1 = reqsign_url(SigningVersion::V1, &object_url, &theirs).await;
            let expires: i64 = param(&reqsign_v1, "Expires").parse().unwrap();
            let mine = v1.presign(&target, &req(expires - 3600));
            assert_eq!(param(&reqsign_v1, "Signature"), mine.signature, "V1 {key:?} {token:?}");

            // V4: both URLs verify against the emulator's own implementation of the algorithm.
            let reqsign_v4 = reqsign_url(SigningVersion::V4, &object_url, &theirs).await;
            assert!(reqsign_v4.contains("x-oss-additional-headers=host"), "{reqsign_v4}");
            let date = param(&reqsign_v4, "x-oss-date");
            let signed_at = chrono::NaiveDateTime::parse_from_str(&date, "%Y%m%dT%H%M%SZ")
                .unwrap()
                .and_utc();
            let mine = v4.presign(&target, &req(signed_at.timestamp()));
            let now = signed_at + chrono::Duration::seconds(60);
            for (who, url) in [("ls-presign", &mine.url), ("reqsign", &reqsign_v4)] {
                verify(&parts(url), std::slice::from_ref(&emu), &bucket(), now)
                    .unwrap_or_else(|e| panic!("{who} V4 URL for {key:?} refused: {e}\n{url}"));
            }
        }
    }
}
