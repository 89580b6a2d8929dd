//! Service-account authorization against the fake Drive server, without network: the key
//! file's `token_uri` points at the fake's OAuth token endpoint, which checks the JWT-bearer
//! grant (header, `iss`, `scope` = the Drive scope, `aud`, times) and its RS256 signature
//! against the key's public key, and answers the only access token the fake's Drive API
//! accepts. Uploads (one request and a resumable session) are then checked byte for byte.
//!
//! The key is `tests/fixtures/test_service_account.json`: Google's inactive dummy service
//! account published for conformance tests (googleapis/conformance-tests), a throwaway key.

use std::process::Command;
use std::sync::Arc;

use aws_lc_rs::signature::{
    KeyPair, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use base64::Engine as _;
use files_core::{Body, ErrorKind, Files};
use files_fakes::gdrive::{FakeDrive, JwtGrantCheck};
use files_gdrive::{DRIVE_SCOPE, GDriveAdapter};
use files_testkit::util::sha256_hex;
use serde_json::{Value, json};

const KEY: &str = include_str!("fixtures/test_service_account.json");
const EMAIL: &str = "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com";
const TOKEN: &str = "ya29.service-account-SECRET-token";

fn rsa_key() -> RsaKeyPair {
    let v: Value = serde_json::from_str(KEY).unwrap();
    let b64: String = v["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    RsaKeyPair::from_pkcs8(&der).unwrap()
}

/// A fake Drive whose token endpoint accepts grants signed by the test key for `EMAIL` and
/// the Drive scope; the key JSON, with `token_uri` (and `client_email`) set for it.
fn fake_with_key(email: &str) -> (Arc<FakeDrive>, String, String) {
    let drive = Arc::new(FakeDrive::start(TOKEN).expect("the fake Drive server"));
    let public = rsa_key().public_key().as_ref().to_vec();
    drive.accept_jwt_grants(JwtGrantCheck {
        iss: EMAIL.to_string(),
        scope: DRIVE_SCOPE.to_string(),
        verify: Box::new(move |input, sig| {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public)
                .verify(input, sig)
                .is_ok()
        }),
    });
    let root = drive.create_folder("root", "sa-root");
    let mut key: Value = serde_json::from_str(KEY).unwrap();
    key["token_uri"] = json!(drive.token_uri());
    key["client_email"] = json!(email);
    (drive, root, key.to_string())
}

fn body(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn service_account_key_uploads_with_a_granted_token() {
    let (drive, root, key) = fake_with_key(EMAIL);
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.json");
    std::fs::write(&key_path, &key).unwrap();
    let adapter = GDriveAdapter::builder()
        .endpoint(drive.endpoint())
        .root_folder(&root)
        .service_account_file(&key_path)
        .unwrap()
        .build()
        .unwrap();
    let debug = format!("{adapter:?}");
    assert!(debug.contains(EMAIL), "{debug}");
    assert!(
        !debug.contains("PRIVATE") && !debug.contains("MIIE") && !debug.contains("SECRET"),
        "{debug}"
    );
    let files = Files::new(adapter);

    let small = body(1000, 1);
    files
        .upload("sa/small.bin", Body::from_bytes(small.clone()))
        .await
        .expect("a small upload with a service account");
    let large = body(3 * 256 * 1024 + 17, 2);
    let out = files
        .upload("sa/large.bin", Body::from_bytes(large.clone()))
        .part_size(256 * 1024)
        .await
        .expect("a resumable upload with a service account");
    assert_eq!(out.bytes_sent, large.len() as u64);
    let folder = drive.files_named(&root, "sa");
    assert_eq!(folder.len(), 1);
    for (name, data) in [("small.bin", &small), ("large.bin", &large)] {
        let stored = drive.files_named(&folder[0].0, name);
        assert_eq!(stored.len(), 1, "{name}");
        assert_eq!(sha256_hex(&stored[0].1), sha256_hex(data), "{name}");
    }
    assert_eq!(
        drive.token_grants(),
        (1, vec![]),
        "one token, cached for every request"
    );
}

#[tokio::test]
async fn a_refused_grant_is_unauthorized_and_quotes_no_secret() {
    // The token endpoint expects EMAIL; this key claims another account.
    let (drive, root, key) = fake_with_key("someone-else@dummy-project-id.iam.gserviceaccount.com");
    let files = Files::new(
        GDriveAdapter::builder()
            .endpoint(drive.endpoint())
            .root_folder(&root)
            .service_account_json(&key)
            .unwrap()
            .build()
            .unwrap(),
    );
    let e = files
        .upload("refused.bin", Body::from_bytes(body(10, 3)))
        .await
        .expect_err("a refused grant");
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    let text = format!("{e} {e:?}");
    assert!(text.contains("invalid_grant"), "{text}");
    assert!(!text.contains("MIIE") && !text.contains("eyJ"), "{text}");
    let (issued, refused) = drive.token_grants();
    assert_eq!(issued, 0);
    assert!(
        refused.iter().all(|r| r.contains("claim iss")),
        "{refused:?}"
    );
    assert!(drive.files_named(&root, "refused.bin").is_empty());
}

/// The fake's signature check is real: a grant signed by the key passes, the same grant with
/// one claim changed after signing does not.
#[tokio::test]
async fn the_token_endpoint_checks_the_signature() {
    let (drive, _root, _) = fake_with_key(EMAIL);
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |scope: &str| json!({ "iss": EMAIL, "scope": scope, "aud": drive.token_uri(), "iat": now, "exp": now + 3600 });
    let header = b64(&json!({ "alg": "RS256", "typ": "JWT" }));
    let input = format!("{header}.{}", b64(&claims(DRIVE_SCOPE)));
    let key = rsa_key();
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
    let http = reqwest::Client::new();
    let post = |assertion: String| {
        http.post(drive.token_uri())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
            ))
            .send()
    };
    let ok = post(format!("{input}.{sig}")).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let v: Value = ok.json().await.unwrap();
    assert_eq!(v["access_token"], TOKEN);
    let mut tampered = claims(DRIVE_SCOPE);
    tampered["exp"] = json!(now + 3599);
    let bad = post(format!("{header}.{}.{sig}", b64(&tampered)))
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let (issued, refused) = drive.token_grants();
    assert_eq!(issued, 1);
    assert_eq!(refused, vec!["the signature does not verify".to_string()]);
}

/// `gdrive://ROOT/` with `GOOGLE_APPLICATION_CREDENTIALS` naming the key file (and no
/// `GDRIVE_ACCESS_TOKEN`): the child process (this binary, re-invoked with that environment)
/// uploads through the URL-opened adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_default_credentials_from_the_environment() {
    let (drive, root, key) = fake_with_key(EMAIL);
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("adc.json");
    std::fs::write(&key_path, &key).unwrap();
    let data = body(300 * 1024, 4);
    let src = dir.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();
    let exe = std::env::current_exe().unwrap();
    let (endpoint, root2) = (drive.endpoint(), root.clone());
    let status = tokio::task::spawn_blocking(move || {
        Command::new(exe)
            .args(["adc_child", "--exact", "--ignored", "--nocapture"])
            .env_remove("GDRIVE_ACCESS_TOKEN")
            .env("GOOGLE_APPLICATION_CREDENTIALS", &key_path)
            .env("GDRIVE_ENDPOINT", endpoint)
            .env("ADC_URL", format!("gdrive://{root2}/adc/file.bin"))
            .env("ADC_SRC", &src)
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "the child failed: {status}");
    let folder = drive.files_named(&root, "adc");
    assert_eq!(folder.len(), 1);
    let stored = drive.files_named(&folder[0].0, "file.bin");
    assert_eq!(stored.len(), 1);
    assert_eq!(sha256_hex(&stored[0].1), sha256_hex(&data));
    assert_eq!(drive.token_grants(), (1, vec![]));
}

/// The child's side of `application_default_credentials_from_the_environment`.
#[tokio::test]
#[ignore = "the child process of application_default_credentials_from_the_environment"]
async fn adc_child() {
    let var = |n: &str| std::env::var(n).expect("run by the parent test");
    files_gdrive::register();
    let (files, key) = files_core::registry::open_object(&var("ADC_URL")).expect("the URL");
    files
        .upload(
            key,
            Body::from_path(var("ADC_SRC")).await.expect("the source"),
        )
        .part_size(256 * 1024)
        .await
        .expect("an upload with application default credentials");
}
