"""Who may say what on NATS: one identity per service, derived from its `ServiceDefinition`.

An event is a fact only because of who could publish it, so every service (and the gateway)
connects as itself (user + password) and the server refuses the rest:
- publish: its own subjects (`<name>.>`), the JetStream API for its own stream and for the
  consumers it declares (its `subscriptions`, and an ephemeral consumer of
  `gateway.token.revoked` when it follows revocations), acks and flow-control replies of
  those streams, and its own core subjects outside any stream (`_tongban.<name>.>`: the
  gateway's rate-limit gossip);
- subscribe: its own inbox (`_INBOX.<name>.>`: the client is connected with that inbox
  prefix, so no service can read another's replies or deliveries) and its own core subjects.
Anonymous connections are refused: the server knows these users only.

The same rules render the nats-server `authorization` block for `make run`, the test servers,
the loopback cluster and the Kubernetes ConfigMap (with `$<NAME>_NATS_PASSWORD` references that
the NATS pods take from a Secret).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tongban.shared.contracts.gateway import TOKEN_REVOKED
from tongban.shared.events.bus import stream_name

if TYPE_CHECKING:
    from tongban.shared.service import ServiceDefinition

PLATFORM = ("gateway", "catalog", "cases", "credentials", "queue", "interop")
API = "$JS.API"


@dataclass(frozen=True)
class Identity:
    user: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def inbox_prefix(user: str) -> str:
    return f"_INBOX.{user}"


def _consumer_api(stream: str, consumer: str, filter_subject: str) -> list[str]:
    # nats.py names the consumer in the create subject, with its filter after it (server >= 2.9).
    return [f"{API}.CONSUMER.CREATE.{stream}.{consumer}.{filter_subject}", f"{API}.CONSUMER.INFO.{stream}.{consumer}",
            f"{API}.CONSUMER.MSG.NEXT.{stream}.{consumer}"]


def identity_for(definition: "ServiceDefinition") -> Identity:
    """The subjects `definition`'s processes may publish and subscribe, and nothing else."""
    name = definition.name
    publish = [f"_tongban.{name}.>"]
    if definition.publishes:
        own = stream_name(name)
        publish += [f"{name}.>", f"{API}.STREAM.INFO.{own}", f"{API}.STREAM.CREATE.{own}",
                    f"{API}.STREAM.UPDATE.{own}"]
    sources: set[str] = set()
    for sub in definition.subscriptions:
        source = stream_name(sub.source)
        sources.add(source)
        publish += _consumer_api(source, sub.durable, sub.subject)
    if definition.follows_revocations or name == "gateway":
        # The revocation follower: ephemeral consumers (random names) filtered to this one subject.
        sources.add(stream_name("gateway"))
        publish += _consumer_api(stream_name("gateway"), "*", TOKEN_REVOKED)
        # The newest revocation's time, by the server's clock: where the replay starts (revocation.py).
        publish.append(f"{API}.STREAM.MSG.GET.{stream_name('gateway')}")
    publish += [f"$JS.ACK.{s}.>" for s in sorted(sources)] + [f"$JS.FC.{s}.>" for s in sorted(sources)]
    return Identity(name, tuple(dict.fromkeys(publish)), (f"{inbox_prefix(name)}.>", f"_tongban.{name}.>"))


def platform_identities(names: Iterable[str] = PLATFORM) -> list[Identity]:
    """The identities of the platform's processes (their definitions imported by name)."""
    return [identity_for(importlib.import_module(f"tongban.{n}.main").SERVICE) for n in names]


def everything(user: str) -> Identity:
    """A user with every right: tests' helpers and operators' tools, never a service."""
    return Identity(user, (">",), (">",))


def password_variable(user: str) -> str:
    return f"{user.upper()}_NATS_PASSWORD"


def authorization(identities: Iterable[Identity], passwords: Mapping[str, str] | None = None) -> str:
    """The nats-server `authorization` block for `identities`. With `passwords` they are written in
    (a file only its owner reads); without, each is a `$<USER>_NATS_PASSWORD` reference the server
    resolves from its environment (Kubernetes: from a Secret)."""
    lines = ["authorization {", "  users = ["]
    for ident in identities:
        password = json.dumps(passwords[ident.user]) if passwords is not None else "$" + password_variable(ident.user)
        lines += [f"    {{user: {json.dumps(ident.user)}, password: {password}, permissions: {{",
                  f"      publish: {{allow: {json.dumps(list(ident.publish))}}}",
                  f"      subscribe: {{allow: {json.dumps(list(ident.subscribe))}}}",
                  "    }}"]
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"
