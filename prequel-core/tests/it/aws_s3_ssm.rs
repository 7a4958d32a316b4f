//! The S3 challenge source, the S3 archive and the SSM secret store, against moto.
//!
//! Every test makes its own bucket or parameter prefix ([`unique_name`]); none resets moto.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_ssm::types::{ParameterType, ResourceTypeForTagging};
use prequel_core::archive::Archive;
use prequel_core::archive::s3::S3Archive;
use prequel_core::aws::{
    AwsClients, CHECKSUM_METADATA, DEPLOYMENT_TAG, INTERVIEW_TAG, ResourceNames,
};
use prequel_core::challenge::s3::{S3Challenges, SyncAction, deterministic_tar_gz};
use prequel_core::challenge::{BundleFile, ChallengeError, ChallengeSource, DirChallenges};
use prequel_core::domain::{ChallengeId, InterviewId};
use prequel_core::secrets::SecretStore;
use prequel_core::secrets::ssm::SsmSecrets;
use prequel_core::testkit::moto::{moto, unique_name};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn repo_challenges() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../challenge")
}

fn id(text: &str) -> ChallengeId {
    ChallengeId::parse(text).expect("challenge id")
}

/// A fresh bucket and the clients to reach it; `None` when moto is absent (skipped loudly).
async fn bucket(test: &str) -> Option<(AwsClients, String)> {
    let moto = moto(test)?;
    let clients = moto.clients().await;
    let bucket = unique_name("prequel-test-");
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    Some((clients, bucket))
}

async fn all_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeSet<String> {
    let output = s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list objects");
    output
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// Copies a folder tree (files keep their permissions).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let kind = entry.file_type().expect("file type");
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[tokio::test]
async fn sync_uploads_only_manifests_and_starters_and_serves_the_dirs_bundles() -> TestResult {
    let Some((clients, bucket)) =
        bucket("sync_uploads_only_manifests_and_starters_and_serves_the_dirs_bundles").await
    else {
        return Ok(());
    };
    let dir = DirChallenges::new(repo_challenges());
    let remote = S3Challenges::new(clients.s3.clone(), &bucket);
    remote.check().await?;

    let report = remote.sync(&dir).await?;
    let local = dir.list().await?;
    let local_ids: Vec<&ChallengeId> = local.iter().map(|m| &m.id).collect();
    assert!(local_ids.len() >= 3, "{local_ids:?}");
    assert_eq!(report.uploaded(), local_ids);
    assert!(report.removed.is_empty());
    for synced in &report.challenges {
        assert_eq!(synced.starter, SyncAction::Uploaded);
        assert_eq!(synced.manifest, SyncAction::Uploaded);
    }

    // Same manifests, same bundles (files, modes and checksum).
    assert_eq!(remote.list().await?, local);
    for manifest in &local {
        assert_eq!(remote.manifest(&manifest.id).await?, *manifest);
        let from_s3 = remote.starter_bundle(&manifest.id).await?;
        let from_dir = dir.starter_bundle(&manifest.id).await?;
        assert_eq!(from_s3, from_dir, "{}", manifest.id);
        let synced = report
            .challenges
            .iter()
            .find(|c| c.id == manifest.id)
            .expect("reported");
        assert_eq!(synced.checksum, from_dir.checksum);
    }

    // Exactly a manifest and a starter per challenge: no tests/, no reference/.
    let keys = all_keys(&clients.s3, &bucket).await;
    let want: BTreeSet<String> = local
        .iter()
        .flat_map(|m| {
            [
                prequel_core::challenge::s3::manifest_key(&m.id),
                ResourceNames::starter_bundle_key(&m.id),
            ]
        })
        .collect();
    assert_eq!(keys, want);
    assert!(
        keys.iter()
            .all(|k| !k.contains("tests/") && !k.contains("reference/")),
        "{keys:?}"
    );
    // The bundle carries its checksum in the agreed metadata key.
    let head = clients
        .s3
        .head_object()
        .bucket(&bucket)
        .key(ResourceNames::starter_bundle_key(local_ids[0]))
        .send()
        .await?;
    assert_eq!(
        head.metadata().and_then(|m| m.get(CHECKSUM_METADATA)),
        Some(&report.challenges[0].checksum)
    );
    assert_eq!(head.content_type(), Some("application/gzip"));

    // A second sync finds everything in place.
    let again = remote.sync(&dir).await?;
    assert!(again.uploaded().is_empty(), "{again:?}");
    assert_eq!(again.unchanged(), local_ids);
    assert!(again.removed.is_empty());

    // An unknown id lists the known ones, from every method.
    for result in [
        remote.manifest(&id("cobol")).await.map(|_| ()),
        remote.starter_bundle(&id("cobol")).await.map(|_| ()),
    ] {
        match result {
            Err(ChallengeError::Unknown { id: asked, known }) => {
                assert_eq!(asked, id("cobol"));
                assert_eq!(known.iter().collect::<Vec<_>>(), local_ids);
            }
            other => panic!("expected Unknown, got {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn sync_uploads_only_what_changed_and_removes_deleted_challenges() -> TestResult {
    let Some((clients, bucket)) =
        bucket("sync_uploads_only_what_changed_and_removes_deleted_challenges").await
    else {
        return Ok(());
    };
    let temp = tempfile::tempdir()?;
    copy_tree(&repo_challenges(), temp.path());
    let dir = DirChallenges::new(temp.path());
    let remote = S3Challenges::new(clients.s3.clone(), &bucket);
    let first = remote.sync(&dir).await?;
    let before = first
        .challenges
        .iter()
        .find(|c| c.id == id("python"))
        .expect("python synced")
        .checksum
        .clone();

    // Change one starter file and add an executable one, in one challenge.
    let starter = temp.path().join("python/starter");
    let readme = starter.join("README.md");
    let mut text = std::fs::read_to_string(&readme)?;
    text.push_str("\nOne more line.\n");
    std::fs::write(&readme, text)?;
    let script = starter.join("run.sh");
    std::fs::write(&script, "#!/bin/sh\necho run\n")?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    }

    let second = remote.sync(&dir).await?;
    assert_eq!(second.uploaded(), [&id("python")]);
    let python = &second.challenges[second
        .challenges
        .iter()
        .position(|c| c.id == id("python"))
        .expect("python")];
    assert_eq!(python.starter, SyncAction::Uploaded);
    assert_eq!(python.manifest, SyncAction::Unchanged);
    assert_ne!(python.checksum, before);
    let from_s3 = remote.starter_bundle(&id("python")).await?;
    assert_eq!(from_s3, dir.starter_bundle(&id("python")).await?);
    assert_eq!(from_s3.checksum, python.checksum);
    assert!(from_s3.file("run.sh").expect("script").executable);
    assert!(!from_s3.file("README.md").expect("readme").executable);

    // A manifest change alone is uploaded too.
    let manifest = temp.path().join("sql/challenge.toml");
    let text = std::fs::read_to_string(&manifest)?;
    std::fs::write(&manifest, format!("{text}\n# edited\n"))?;
    let third = remote.sync(&dir).await?;
    assert_eq!(third.uploaded(), [&id("sql")]);

    // A challenge deleted locally goes remotely.
    std::fs::remove_dir_all(temp.path().join("sql"))?;
    let fourth = remote.sync(&dir).await?;
    assert_eq!(fourth.removed, [id("sql")]);
    assert!(fourth.uploaded().is_empty());
    let keys = all_keys(&clients.s3, &bucket).await;
    assert!(keys.iter().all(|k| !k.starts_with("sql/")), "{keys:?}");
    assert!(
        remote.list().await?.iter().all(|m| m.id != id("sql")),
        "sql still listed"
    );
    match remote.manifest(&id("sql")).await {
        Err(ChallengeError::Unknown { known, .. }) => assert!(!known.contains(&id("sql"))),
        other => panic!("expected Unknown, got {other:?}"),
    }

    // An empty folder is refused rather than deleting every remote challenge.
    let empty = tempfile::tempdir()?;
    let refused = remote
        .sync(&DirChallenges::new(empty.path()))
        .await
        .expect_err("empty folder");
    assert!(refused.to_string().contains("refusing"), "{refused}");
    assert!(!remote.list().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_tampered_bundle_is_an_error_naming_the_object() -> TestResult {
    let Some((clients, bucket)) = bucket("a_tampered_bundle_is_an_error_naming_the_object").await
    else {
        return Ok(());
    };
    let remote = S3Challenges::new(clients.s3.clone(), &bucket);
    let report = remote.sync(&DirChallenges::new(repo_challenges())).await?;
    let victim = &report.challenges[0];
    let key = ResourceNames::starter_bundle_key(&victim.id);

    // A valid tarball with other contents, under the original checksum.
    let other = deterministic_tar_gz(&[BundleFile {
        path: "README.md".to_owned(),
        contents: b"not what was synced\n".to_vec(),
        executable: false,
    }])?;
    clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .metadata(CHECKSUM_METADATA, &victim.checksum)
        .body(ByteStream::from(other))
        .send()
        .await?;
    let err = remote
        .starter_bundle(&victim.id)
        .await
        .expect_err("tampered bundle");
    let message = err.to_string();
    assert!(matches!(err, ChallengeError::Backend { .. }), "{err:?}");
    assert!(
        message.contains(&format!("s3://{bucket}/{key}")),
        "{message}"
    );
    assert!(message.contains("checksum"), "{message}");

    // Bytes that are not a tarball at all.
    clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .metadata(CHECKSUM_METADATA, &victim.checksum)
        .body(ByteStream::from_static(b"garbage"))
        .send()
        .await?;
    let err = remote
        .starter_bundle(&victim.id)
        .await
        .expect_err("garbage bundle");
    assert!(
        err.to_string().contains(&format!("s3://{bucket}/{key}")),
        "{err}"
    );

    // A sync repairs it (the metadata matched, but the object is re-uploaded only on a
    // checksum difference: delete it to force the repair).
    clients
        .s3
        .delete_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await?;
    remote.sync(&DirChallenges::new(repo_challenges())).await?;
    remote.starter_bundle(&victim.id).await?;
    Ok(())
}

#[tokio::test]
async fn a_missing_bucket_is_reported_by_name() {
    let Some(moto) = moto("a_missing_bucket_is_reported_by_name") else {
        return;
    };
    let clients = moto.clients().await;
    let bucket = unique_name("prequel-absent-");
    let err = S3Challenges::new(clients.s3.clone(), &bucket)
        .check()
        .await
        .expect_err("no bucket");
    assert!(
        err.to_string().contains(&format!(
            "S3 bucket `{bucket}` does not exist or is not readable"
        )),
        "{err}"
    );
    let err = S3Archive::new(clients.s3.clone(), &bucket)
        .check()
        .await
        .expect_err("no bucket");
    assert!(err.to_string().contains(&bucket), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Archive
// ---------------------------------------------------------------------------------------------

/// One HTTP/1.1 request over a plain TCP connection (moto is plain http on loopback, and
/// prequel-core has no HTTP client): `(status, body)`.
fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("not an http:// URL"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let mut payload = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = dechunk(&payload)?;
    }
    Ok((status, payload))
}

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| std::io::Error::other("bad chunk"))?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(std::io::Error::other)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[tokio::test]
async fn archive_round_trips_through_presigned_urls() -> TestResult {
    let Some((clients, bucket)) = bucket("archive_round_trips_through_presigned_urls").await else {
        return Ok(());
    };
    let archive = S3Archive::new(clients.s3.clone(), &bucket);
    archive.check().await?;
    let interview = InterviewId::generate();
    let valid = Duration::from_secs(600);

    assert_eq!(archive.stored(&interview).await?, None);
    assert_eq!(archive.download_link(&interview, valid).await?, None);

    let target = archive.upload_target(&interview, valid).await?;
    let location = format!("s3://{bucket}/{interview}/workspace.tar.gz");
    assert_eq!(target.location, location);
    assert!(target.url.contains("X-Amz-Signature="), "not presigned");
    let debug = format!("{target:?}");
    assert!(!debug.contains(&target.url), "{debug}");
    assert!(!debug.contains("X-Amz-Signature"), "{debug}");
    assert!(debug.contains(&location), "{debug}");

    let tarball: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let url = target.url.clone();
    let body = tarball.clone();
    let (status, answer) = tokio::task::spawn_blocking(move || {
        http("PUT", &url, &[("Content-Type", "application/gzip")], &body)
    })
    .await??;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));

    assert_eq!(archive.stored(&interview).await?, Some(location));
    let link = archive
        .download_link(&interview, valid)
        .await?
        .expect("a link once stored");
    assert!(link.contains("X-Amz-Signature="));
    let (status, downloaded) =
        tokio::task::spawn_blocking(move || http("GET", &link, &[], &[])).await??;
    assert_eq!(status, 200);
    assert_eq!(downloaded, tarball);

    // Another interview still has nothing.
    assert_eq!(archive.stored(&InterviewId::generate()).await?, None);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SSM
// ---------------------------------------------------------------------------------------------

fn names() -> ResourceNames {
    ResourceNames::new(&unique_name("p"), "test").expect("names")
}

/// Whether `text` holds something shaped like a generated password (`xxxx-xxxx-…`, 7 groups).
fn holds_password_like(text: &str) -> bool {
    let symbol = |b: u8| b"abcdefghijkmnpqrstuvwxyz23456789".contains(&b);
    text.as_bytes().windows(34).any(|w| {
        w.iter()
            .enumerate()
            .all(|(i, &b)| if i % 5 == 4 { b == b'-' } else { symbol(b) })
    })
}

#[tokio::test]
async fn ssm_password_is_created_once_and_shared_by_every_handle() -> TestResult {
    let Some(moto) = moto("ssm_password_is_created_once_and_shared_by_every_handle") else {
        return Ok(());
    };
    let names = names();
    let clients = moto.clients().await;
    let secrets = SsmSecrets::new(clients.ssm.clone(), names.clone());
    secrets.check().await?;
    let interview = InterviewId::generate();

    assert!(secrets.existing_password(&interview).await?.is_none());
    let first = secrets.password(&interview).await?;
    let other = SsmSecrets::new(moto.clients().await.ssm, names.clone());
    assert_eq!(other.password(&interview).await?, first);
    assert_eq!(
        other.existing_password(&interview).await?,
        Some(first.clone())
    );

    // Stored encrypted and tagged.
    let name = names.password_parameter(&interview);
    let got = clients
        .ssm
        .get_parameter()
        .name(&name)
        .with_decryption(true)
        .send()
        .await?;
    let parameter = got.parameter().expect("parameter");
    assert_eq!(parameter.r#type(), Some(&ParameterType::SecureString));
    assert_eq!(parameter.value(), Some(first.expose()));
    let tags = clients
        .ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(&name)
        .send()
        .await?;
    let tags: BTreeSet<(String, String)> = tags
        .tag_list()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    assert!(
        tags.contains(&(INTERVIEW_TAG.to_owned(), interview.to_string())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&(DEPLOYMENT_TAG.to_owned(), names.stem())),
        "{tags:?}"
    );

    // Forget, then it is gone; forgetting again is fine; a new password is a new one.
    secrets.forget(&interview).await?;
    assert!(other.existing_password(&interview).await?.is_none());
    secrets.forget(&interview).await?;
    other.forget(&InterviewId::generate()).await?;
    assert_ne!(secrets.password(&interview).await?, first);
    Ok(())
}

#[tokio::test]
async fn ssm_racing_first_calls_agree_on_one_password() -> TestResult {
    let Some(moto) = moto("ssm_racing_first_calls_agree_on_one_password") else {
        return Ok(());
    };
    let names = names();
    let interview = InterviewId::generate();
    let mut handles = Vec::new();
    for _ in 0..8 {
        handles.push(SsmSecrets::new(moto.clients().await.ssm, names.clone()));
    }
    let passwords = futures::future::try_join_all(
        handles
            .iter()
            .map(|h| h.password(&interview))
            .collect::<Vec<_>>(),
    )
    .await?;
    let distinct: BTreeSet<&str> = passwords.iter().map(|p| p.expose()).collect();
    assert_eq!(distinct.len(), 1, "racing calls disagreed");
    assert_eq!(
        handles[0].existing_password(&interview).await?,
        Some(passwords[0].clone())
    );
    Ok(())
}

#[tokio::test]
async fn ssm_errors_name_the_parameter_and_never_the_password() -> TestResult {
    let Some(moto) = moto("ssm_errors_name_the_parameter_and_never_the_password") else {
        return Ok(());
    };
    // Parameters under `/aws/…` are reserved: the read finds nothing, and the create after it
    // is refused, with a freshly generated password in the request.
    let names = ResourceNames::new("aws", &unique_name("e"))?;
    let secrets = SsmSecrets::new(moto.clients().await.ssm, names.clone());
    let interview = InterviewId::generate();
    let err = secrets
        .password(&interview)
        .await
        .expect_err("reserved name");
    let display = err.to_string();
    let debug = format!("{err:?}");
    let chain = {
        let mut text = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(&err);
        while let Some(e) = source {
            text.push_str(&e.to_string());
            source = e.source();
        }
        text
    };
    assert!(
        display.contains(&names.password_parameter(&interview)),
        "{display}"
    );
    assert!(display.contains("cannot create the parameter"), "{display}");
    for text in [&display, &debug, &chain] {
        assert!(!holds_password_like(text), "{text}");
    }
    assert!(holds_password_like(
        "see k7mq-2xw9-ab3c-defg-hjk2-mnpq-rstu here"
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The facade's archive link (what the chat notifiers DM after a destroy)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_facade_links_an_archive_only_once_the_instance_uploaded_it() -> TestResult {
    use std::sync::Arc;

    use prequel_core::Prequel;
    use prequel_core::clock::SystemClock;
    use prequel_core::secrets::file::FileSecrets;
    use prequel_core::store::sqlite::SqliteStore;
    use prequel_core::testkit::provisioner::RecordingProvisioner;

    let Some((clients, bucket)) =
        bucket("the_facade_links_an_archive_only_once_the_instance_uploaded_it").await
    else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let archive = Arc::new(S3Archive::new(clients.s3.clone(), &bucket));
    let engine = |with_archive: bool| -> Result<Prequel, Box<dyn std::error::Error>> {
        let clock = Arc::new(SystemClock);
        let mut builder = Prequel::builder()
            .store(Arc::new(SqliteStore::open(&dir.path().join("db"))?))
            .secrets(Arc::new(FileSecrets::open(dir.path().join("secrets"))?))
            .provisioner(Arc::new(RecordingProvisioner::new(clock.clone())))
            .clock(clock);
        if with_archive {
            builder = builder.archive(archive.clone());
        }
        Ok(builder.build()?)
    };
    let prequel = engine(true)?;
    let interview = InterviewId::generate();
    let week = Duration::from_secs(7 * 24 * 3600);

    assert_eq!(
        prequel.archive_link(&interview, week).await?,
        None,
        "nothing uploaded yet"
    );

    let target = archive
        .upload_target(&interview, Duration::from_secs(60))
        .await?;
    let work = b"the candidate's work".to_vec();
    let (status, _) = tokio::task::spawn_blocking(move || {
        http(
            "PUT",
            &target.url,
            &[("Content-Type", "application/gzip")],
            &work,
        )
    })
    .await??;
    assert_eq!(status, 200);

    let link = prequel
        .archive_link(&interview, week)
        .await?
        .expect("a link once uploaded");
    let (status, body) =
        tokio::task::spawn_blocking(move || http("GET", &link, &[], &[])).await??;
    assert_eq!((status, body), (200, b"the candidate's work".to_vec()));

    // The embedded default keeps archives in its data dir and has no links to give.
    assert_eq!(engine(false)?.archive_link(&interview, week).await?, None);
    Ok(())
}
