//! A private Postfix instance for the email tests and the SMTP benchmark: Debian's `postfix`
//! package, run from a configuration in a temp directory on two free loopback ports (SMTP
//! with STARTTLS offered, and SMTPS), with a certificate issued by a CA made here (as a school
//! board's own CA), `reject_non_fqdn_helo_hostname`, and a discard transport: every accepted
//! message is logged (`message-id=`) and thrown away. `.ci/run` installs the package.
//!
//! The instance needs root (Postfix's master starts as root and drops to the `postfix` user)
//! and stops when the value is dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Postfix {
    dir: tempfile::TempDir,
    /// SMTP, STARTTLS offered (smtpd_tls_security_level = may).
    pub smtp: u16,
    /// SMTPS: TLS from the first byte.
    pub smtps: u16,
    /// The CA that issued the relay's certificate (PEM).
    pub ca_file: PathBuf,
    /// A CA that issued nothing here (PEM): trusting it is not enough.
    pub other_ca_file: PathBuf,
}

/// Why there is no Postfix to test with, or `None` when there is one.
fn missing() -> Option<String> {
    if !Path::new("/usr/sbin/postfix").exists() {
        return Some("Debian's postfix package is not installed (apt-get install postfix)".into());
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("Postfix's master must start as root".into());
    }
    None
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA and, when `names` are given, a certificate it issued for them: (CA PEM, cert PEM, key PEM).
pub fn make_ca(common_name: &str, names: &[&str]) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let ca_key = KeyPair::generate().unwrap();
    let ca = params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    leaf.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("relay"),
    );
    let leaf = leaf.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

impl Postfix {
    /// Starts an instance, or returns `None` (after saying why on stderr) when Postfix cannot
    /// run here; under `CI=true` that is a failure instead.
    pub fn start() -> Option<Postfix> {
        Self::start_with("")
    }

    /// Like [`Postfix::start`], with SMTP AUTH by Cyrus SASL (Debian's `sasl2-bin` and
    /// `libsasl2-modules`) from a sasldb in the instance's own directory holding one account,
    /// `user` in the realm `school.test`. AUTH is offered only after STARTTLS, and only an
    /// authenticated client may relay (loopback alone is not enough).
    pub fn start_with_sasl(user: &str, password: &str) -> Option<Postfix> {
        if !Path::new("/usr/sbin/saslpasswd2").exists() {
            let why =
                "Debian's sasl2-bin is not installed (apt-get install sasl2-bin libsasl2-modules)";
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true and no SASL to test with: {why}");
            }
            eprintln!("SKIPPED: {why}");
            return None;
        }
        let pf = Self::start_with(
            "smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {dir}/conf/sasl
smtpd_sasl_local_domain = school.test
smtpd_tls_auth_only = yes
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
",
        )?;
        // Read by smtpd (as `postfix`) when a client first connects.
        let sasl = pf.config_dir().join("sasl");
        std::fs::create_dir(&sasl).unwrap();
        set_mode(&sasl, 0o755);
        let db = sasl.join("sasldb2");
        std::fs::write(
            sasl.join("smtpd.conf"),
            format!(
                "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: {}\n",
                db.display()
            ),
        )
        .unwrap();
        let mut child = Command::new("/usr/sbin/saslpasswd2")
            .args(["-p", "-c", "-u", "school.test", "-f"])
            .arg(&db)
            .arg(user)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "saslpasswd2");
        let status = Command::new("chown")
            .arg("postfix")
            .arg(&db)
            .status()
            .unwrap();
        assert!(status.success(), "chown of the sasldb");
        Some(pf)
    }

    /// Like [`Postfix::start`], with more `main.cf` lines (`{dir}` is the instance's
    /// directory).
    pub fn start_with(extra_main_cf: &str) -> Option<Postfix> {
        if let Some(why) = missing() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true and no Postfix to test with: {why}");
            }
            eprintln!("SKIPPED: no Postfix to test with: {why}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let d = d.as_path();
        // Postfix's daemons run as `postfix` and reach their directories by absolute path.
        set_mode(d, 0o755);
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        let (ca, cert, key) = make_ca("Schoolbestuur test CA", &["localhost", "127.0.0.1"]);
        let (other_ca, _, _) = make_ca("Another CA", &[]);
        let conf = d.join("conf");
        std::fs::write(conf.join("ca.pem"), &ca).unwrap();
        std::fs::write(conf.join("other-ca.pem"), &other_ca).unwrap();
        std::fs::write(conf.join("cert.pem"), &cert).unwrap();
        std::fs::write(conf.join("key.pem"), &key).unwrap();
        set_mode(&conf.join("key.pem"), 0o600);
        let (smtp, smtps) = (free_port(), free_port());
        let d_str = d.display();
        std::fs::write(
            conf.join("main.cf"),
            format!(
                "compatibility_level = 3.6
queue_directory = {d_str}/queue
data_directory = {d_str}/data
mail_owner = postfix
setgid_group = postdrop
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
myhostname = relay.school.test
mydomain = school.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
default_transport = discard
relay_transport = discard
local_transport = discard
alias_maps =
alias_database =
maillog_file_prefixes = {d_str}
maillog_file = {d_str}/maillog
smtpd_helo_required = yes
smtpd_helo_restrictions = reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_tls_chain_files = {d_str}/conf/key.pem, {d_str}/conf/cert.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
{extra}
",
                extra = extra_main_cf.replace("{dir}", &d_str.to_string())
            ),
        )
        .unwrap();
        std::fs::write(
            conf.join("master.cf"),
            format!(
                "127.0.0.1:{smtp} inet n - n - - smtpd
127.0.0.1:{smtps} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"
            ),
        )
        .unwrap();
        let pf = Postfix {
            smtp,
            smtps,
            ca_file: conf.join("ca.pem"),
            other_ca_file: conf.join("other-ca.pem"),
            dir,
        };
        let status = Command::new("chown")
            .args(["postfix", &format!("{d_str}/data")])
            .status()
            .unwrap();
        assert!(status.success(), "chown of the data directory");
        pf.postfix("check");
        let out = pf.postfix("start");
        assert!(out.status.success(), "postfix start: {}", pf.explain(&out));
        // The master logs this after it bound its listeners; no probe connections, which
        // would show up in the log as sessions.
        pf.wait_log(20, "the master's start", |log| {
            log.contains("daemon started")
        });
        Some(pf)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    /// Runs `postfix -c DIR <what>`; Postfix writes its messages to stderr only on a terminal,
    /// so failures are explained from the maillog.
    fn postfix(&self, what: &str) -> std::process::Output {
        Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.config_dir())
            .arg(what)
            .output()
            .unwrap()
    }

    fn explain(&self, out: &std::process::Output) -> String {
        format!(
            "{}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        )
    }

    /// Everything Postfix logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Waits (at most `secs`) until `pred` holds for the log; returns the log.
    pub fn wait_log(&self, secs: u64, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let log = self.log();
            if pred(&log) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} in Postfix's log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `message-id=` values the cleanup daemon logged, in order.
    pub fn message_ids(&self) -> Vec<String> {
        message_ids(&self.log())
    }

    /// The `disconnect from …` lines of smtpd: one per finished client session.
    pub fn disconnects(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("postfix/smtpd[") && l.contains(": disconnect from "))
            .map(|l| l.split(": disconnect from ").nth(1).unwrap().to_string())
            .collect()
    }
}

pub fn message_ids(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("postfix/cleanup["))
        .filter_map(|l| l.split(": message-id=").nth(1))
        .map(|id| id.trim().to_string())
        .collect()
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = self.postfix("stop");
        // `postfix stop` returns once the master is told; give it a moment to let go of the
        // directory before the temp dir is removed.
        let pid_file = self.dir.path().join("queue/pid/master.pid");
        let deadline = Instant::now() + Duration::from_secs(10);
        while pid_file.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
