//! `METLOG_CONFIG` and `init_from_env`: the global client from a file named
//! by the environment. Own process: it sets the global client.

use crate::support;
use metlog::sender::CaptureSender;

#[test]
fn init_from_env_installs_the_global_client_from_metlog_config() {
    support::in_own_process(
        &support::test_name!(init_from_env_installs_the_global_client_from_metlog_config),
        &[],
        || {
            std::env::remove_var(metlog::config::CONFIG_ENV);
            assert!(
                !metlog::config::init_from_env().unwrap(),
                "nothing to do without the variable"
            );
            assert!(metlog::global_client().is_none());

            let dir = std::env::temp_dir().join(format!("metlog-env-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("metlog.toml");
            std::fs::write(
                &path,
                "logger = \"from-env\"\nsender = { class = \"capture\" }\n",
            )
            .unwrap();
            std::env::set_var(metlog::config::CONFIG_ENV, &path);
            assert!(metlog::config::init_from_env().unwrap());

            metlog::incr("configured");
            let client = metlog::global_client().unwrap();
            assert_eq!(client.logger(), "from-env");
            assert_eq!(client.sender_as::<CaptureSender>().unwrap().len(), 1);

            // A second call cannot replace the global client: a clear error.
            let err = metlog::config::init_from_env().unwrap_err();
            assert!(err.to_string().contains("already set"), "{err}");
            std::fs::remove_dir_all(dir).unwrap();
        },
    );
}
