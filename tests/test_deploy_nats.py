"""The Kubernetes manifests give NATS the same authorization as the code: the ConfigMap's
`authorization` block is what tongban.shared.events.identity renders (so a new subscription
cannot drift from the server's rules), nats-server accepts it with the passwords taken from its
environment, and each service connects as itself with its password from its own Secret."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tongban.shared.events import identity
from tongban.shared.localinfra import nats_server_binary

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
NAMES = list(identity.PLATFORM)


def manifests(path: Path) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(path.read_text()) if d}


def nats_conf() -> str:
    return manifests(K8S / "nats" / "configmap.yaml")[("ConfigMap", "nats-config")]["data"]["nats.conf"]


def test_the_configmap_authorization_is_the_codes():
    expected = identity.authorization(identity.platform_identities())
    assert expected in nats_conf(), "re-render deploy/k8s/nats/configmap.yaml from tongban.shared.events.identity"


def test_nats_server_accepts_it_with_the_passwords_from_its_environment(tmp_path):
    conf = tmp_path / "nats.conf"
    conf.write_text(nats_conf())
    passwords = {identity.password_variable(n): f"pw-{n}" for n in NAMES}
    ok = subprocess.run([nats_server_binary(), "-t", "-c", str(conf)], capture_output=True, text=True,
                        env={**os.environ, "SERVER_NAME": "nats-0", **passwords})
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run([nats_server_binary(), "-t", "-c", str(conf)], capture_output=True, text=True,
                             env={**os.environ, "SERVER_NAME": "nats-0"})
    assert missing.returncode != 0  # an unset password stops the server, never an empty one


def test_nats_pods_take_every_password_from_its_services_secret():
    sts = manifests(K8S / "nats" / "statefulset.yaml")[("StatefulSet", "nats")]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in container["env"]}
    for name in NAMES:
        assert env[identity.password_variable(name)] == {"name": f"{name}-nats", "key": "password"}


@pytest.mark.parametrize("name", NAMES)
def test_each_service_connects_as_itself(name):
    base = K8S / "base" / name
    config = manifests(base / "configmap.yaml")[("ConfigMap", f"{name}-config")]["data"]
    assert config[f"{name.upper()}_NATS_USER"] == name
    deployment = manifests(base / "deployment.yaml")[("Deployment", name)]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert secrets[f"{name.upper()}_NATS_PASSWORD"] == {"name": f"{name}-nats", "key": "password"}
