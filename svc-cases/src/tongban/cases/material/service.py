"""Materials of a case: uploaded files in the document store, and licence-backed materials
(免证办) confirmed and used at svc-credentials under the consent given with the submission.

Calls to svc-credentials never wait inside the number's row lock (it serialises a city's
submissions); for a submission they run with no cases transaction open at all, between the
commit of the draft and the one that submits it (tongban.cases.submission_flow)."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.config import Settings
from tongban.cases.credentials_client import CredentialsClient
from tongban.cases.db import audit
from tongban.cases.material import repository
from tongban.cases.material.errors import DocumentTooLarge, DocumentUnusable, \
    LicenceNotUsable, UnsupportedDocumentType
from tongban.cases.material.models import CaseMaterial, Document
from tongban.cases.material.schemas import MaterialIn
from tongban.cases.rule import service as rule_service
from tongban.cases.rule.models import ApprovalRule
from tongban.shared.auth import Principal
from tongban.shared.errors import AppError

# What a file must start with to be what its declared type says (a renamed .exe is not a PDF).
SIGNATURES = {"application/pdf": (b"%PDF-",), "image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",),
              "application/ofd": (b"PK\x03\x04",)}
MAX_MATERIALS = 30
log = logging.getLogger("tongban.cases.material")
# A presentation stands in for a material only when it shows whose it is and, being a credit
# report (信用报告, today the only kind taken this way), the level and the black-list entries:
# a presenter who leaves a field out is refused, not trusted.
SHOWN = ("subject_code", "credit_level", "black_list_entries")
CLEAN_LEVELS = frozenset({"A", "B"})


def check_upload(content: bytes, mime_type: str, settings: Settings) -> None:
    """413 over the size limit, 415 for a type the store does not take, 422 for an empty file or
    one whose bytes are not of its declared type."""
    if len(content) > settings.document_max_bytes:
        raise DocumentTooLarge(f"{len(content)} bytes; the limit is {settings.document_max_bytes}")
    if mime_type not in settings.document_mime_types:
        raise UnsupportedDocumentType(f"{mime_type or 'no Content-Type'}; accepted: "
                                      f"{', '.join(settings.document_mime_types)}")
    if not content:
        raise DocumentUnusable("body", "the file is empty")
    signatures = SIGNATURES.get(mime_type)
    if signatures and not content.startswith(signatures):
        raise DocumentUnusable("body", f"the content is not {mime_type}")


async def upload(session: AsyncSession, content: bytes, mime_type: str, filename: str, p: Principal,
                 settings: Settings) -> Document:
    """Store a file for the caller (attached to a case when a submission names it)."""
    check_upload(content, mime_type, settings)
    doc = Document(id=uuid.uuid4(), uploaded_by=p.sub, filename=filename, mime_type=mime_type, size=len(content),
                   sha256=hashlib.sha256(content).hexdigest(), content=content)
    await repository.add(session, doc)
    await audit.record(session, p, "document.upload", "document", str(doc.id), None,
                       {"sha256": doc.sha256, "size": doc.size, "mime_type": mime_type})
    return doc


class Case(Protocol):
    """What materials need of their case (the case aggregate sits above this one)."""

    id: uuid.UUID
    applicant_id: str
    basic_code: str
    department: str
    item_name: str
    channel: str


def _for_applicant(case: Case, p: Principal) -> bool:
    """The caller is the applicant, or acts for her under a delegation to apply for the case's item."""
    try:
        p.acting_for(case.applicant_id, item=case.basic_code, action="apply")
    except AppError:
        return False
    return True


class SubmissionMaterials:
    """The materials given with one submission (or added to a case later), in three parts so the
    calls to svc-credentials can run with no cases transaction open: `check` (uploads, in the
    database, before the case row exists), `confirm` (licence-backed materials: the applicant's
    consent and the department's use at svc-credentials, plus the wallet facts the rules ask
    for), `attach` (writes what was checked or confirmed onto the case). `undo` withdraws the
    consents `confirm` gave, when the submission they were for does not go through."""

    def __init__(self, session: AsyncSession, items: Sequence[MaterialIn], p: Principal, user_auth: str | None,
                 credentials: CredentialsClient, field: str = "materials", positions: Sequence[int] | None = None,
                 shared_with: Sequence[uuid.UUID] = ()) -> None:
        self.session, self.items, self.p, self.user_auth = session, list(items), p, user_auth
        self.credentials, self.field = credentials, field
        # A bundle hands each child the part of the one set of materials its item asks for:
        # `positions` are their places in the request (for error fields), and `shared_with` (the
        # bundle's children so far) lets the children of one bundle list the same document.
        self.positions = list(positions) if positions is not None else list(range(len(self.items)))
        self.shared_with = frozenset(shared_with)
        self.rows: list[CaseMaterial] = []
        self.documents: list[uuid.UUID] = []
        self.consents: list[uuid.UUID] = []      # given at svc-credentials by `confirm`, for `undo`
        # Each attempt keys its calls to svc-credentials afresh: a retry after an undone attempt
        # must not replay the withdrawn consent or a refused use.
        self.attempt = uuid.uuid4().hex[:12]

    def given(self) -> list[tuple[str, str | None]]:
        """(name, licence type code) of each material, for the required-materials check."""
        return [(m.name, m.licence_type_code) for m in self.items]

    @property
    def licence_backed(self) -> bool:
        """Whether any material is a licence-backed one (免证办): svc-credentials records something."""
        return any(m.document_id is None for m in self.items)

    async def recheck(self, session: AsyncSession, case: Case) -> None:
        """`check` again in a later transaction, under its locks (another request may have attached
        an upload since the first check); the licence-backed materials `confirm` gave are kept."""
        licences = [r for r in self.rows if r.kind == "licence"]
        self.session, self.rows, self.documents = session, [], []
        await self.check(case)
        self.rows += licences

    async def check(self, case: Case) -> None:
        """Check every uploaded material (the caller's own, not yet attached); no remote call."""
        if len(self.items) > MAX_MATERIALS:
            raise DocumentUnusable(self.field, f"at most {MAX_MATERIALS} materials")
        wanted = [m.document_id for m in self.items if m.document_id]
        docs = await repository.documents(self.session, wanted) if wanted else {}
        for i, m in zip(self.positions, self.items, strict=True):
            if m.document_id is None:
                continue
            field = f"{self.field}[{i}]"
            doc = docs.get(m.document_id)
            if doc is None or doc.uploaded_by != self.p.sub:
                raise DocumentUnusable(f"{field}.document_id", "no such document of yours")
            if m.document_id in self.documents or (doc.case_id is not None and doc.case_id not in self.shared_with):
                raise DocumentUnusable(f"{field}.document_id", "already attached to a case")
            self.documents.append(doc.id)
            self.rows.append(CaseMaterial(name=m.name, kind="upload", document_id=doc.id, added_by=self.p.sub))

    async def confirm(self, case: Case, rule: ApprovalRule | None = None) -> dict[str, Any]:
        """Licence-backed materials through svc-credentials; returns facts `licence.<type code>`
        for the rules (the materials', then the wallet's for what the rule names besides)."""
        facts: dict[str, Any] = {}
        for i, m in zip(self.positions, self.items, strict=True):
            if m.presentation is not None:
                self.rows.append(await self._presented(case, m, f"{self.field}[{i}].presentation"))
                facts[f"licence.{m.licence_type_code}"] = True
            elif m.licence_type_code is not None and m.document_id is None:
                self.rows.append(await self._licence(case, m, f"{self.field}[{i}].licence_type_code"))
                facts[f"licence.{m.licence_type_code}"] = True
        facts |= await self.wallet_facts(rule, facts)
        return facts

    async def _licence(self, case: Case, m: MaterialIn, field: str) -> CaseMaterial:
        """The applicant's consent (their own, or witnessed by the clerk at the counter), then the
        handling department's use through svc-credentials, which confirms the licence is valid."""
        assert m.licence_type_code is not None
        if self.user_auth is not None and self.p.has("cases:apply") and _for_applicant(case, self.p):
            holder = None
        elif self.user_auth is not None and self.p.has("cases:process") and case.channel == "counter":
            holder = case.applicant_id
        else:
            raise LicenceNotUsable(field, "licence-backed materials need the applicant's consent: their own "
                                          "submission, or a clerk's for an applicant at the counter")
        key = f"{case.id}:{m.licence_type_code}:{self.attempt}"
        consent = await self.credentials.give_consent(self.user_auth, m.licence_type_code, case.id, case.department,
                                                      field, holder_id=holder, key=key)
        self.consents.append(consent)
        use = await self.credentials.use(case.applicant_id, m.licence_type_code, case.id, case.department,
                                         f"办件 {case.item_name}: {m.name}", field, key=key)
        return CaseMaterial(name=m.name, kind="licence", licence_type_code=m.licence_type_code,
                            licence_identifier=use.identifier, consent_id=consent, use_id=use.use_id,
                            verification="licence-use", added_by=self.p.sub)

    async def _presented(self, case: Case, m: MaterialIn, field: str) -> CaseMaterial:
        """A presentation standing in for the material: svc-credentials verifies it (a partner
        city's against the partner's keys on our trust list); it must be valid, of the type the
        material asks for or one the licence-type mappings make stand for it, show the applicant as
        its subject, and be clean (level A or B, no black-list entry). Any refusal is 422 naming
        the field, logged here and on the case's timeline (svc-credentials audits the verification)."""
        assert m.presentation is not None and m.licence_type_code is not None
        verdict = await self.credentials.verify_presentation(m.presentation, field)
        shown = verdict.get("fields") if isinstance(verdict.get("fields"), dict) else {}
        why: str | None = None
        refusal = str(verdict.get("result"))
        if refusal != "valid":
            why = f"the presentation is {refusal}: {verdict.get('reason')}"
        elif m.licence_type_code != verdict.get("type_code") and \
                m.licence_type_code not in (verdict.get("recognised_as") or []):
            why, refusal = f"a {verdict.get('type_code')} does not stand for {m.licence_type_code}", "wrong_type"
        elif missing := [f for f in SHOWN if f not in shown]:
            why, refusal = f"the presentation must show {', '.join(missing)}", "fields_not_shown"
        elif str(shown["subject_code"]).upper() != case.applicant_id.upper():
            why, refusal = "the presented report is about someone other than the applicant", "not_the_applicant"
        elif str(shown["credit_level"]) not in CLEAN_LEVELS or shown["black_list_entries"] not in (0, "0"):
            why, refusal = (f"the credit report is not clean (level {shown['credit_level']}, "
                            f"{shown['black_list_entries']} black-list entries)"), "not_clean"
        if why is not None:
            log.warning("presentation refused for case %s (%s): %s; issuer %s, identifier %s", case.id, field,
                        refusal, verdict.get("issuer_code"), verdict.get("identifier"))
            raise LicenceNotUsable(field, why, refusal=refusal)
        region = verdict.get("issuer_region")
        return CaseMaterial(name=m.name, kind="licence", licence_type_code=m.licence_type_code,
                            licence_identifier=str(verdict.get("identifier"))[:200],
                            verification=f"presentation-{region}" if region else "presentation", added_by=self.p.sub)

    async def wallet_facts(self, rule: ApprovalRule | None, known: dict[str, Any]) -> dict[str, Any]:
        """Licence facts the item's current rule asks about and the materials did not settle,
        from the applicant's own wallet (only when a rule needs them: no call otherwise)."""
        return await licence_facts(rule, self.p, self.user_auth, self.credentials, known)

    async def undo(self) -> dict[str, list[str]]:
        """Withdraw the consents this attempt gave (the uses stay in the holder's log: they
        happened). Returns which were withdrawn and which svc-credentials would not withdraw
        with the caller's token (the holder still can, from her consents)."""
        done: dict[str, list[str]] = {"consents_withdrawn": [], "consents_left": []}
        for consent in self.consents:
            try:
                withdrawn = self.user_auth is not None and await self.credentials.withdraw_consent(self.user_auth,
                                                                                                   consent)
            except AppError:  # svc-credentials unreachable: the consent stays, and the timeline says so
                withdrawn = False
            done["consents_withdrawn" if withdrawn else "consents_left"].append(str(consent))
        self.consents = []
        return done

    async def attach(self, case: Case) -> None:
        """Write the checked and confirmed materials onto the case (each row once)."""
        rows, self.rows = self.rows, []
        documents, self.documents = self.documents, []
        for row in rows:
            row.case_id = case.id
            self.session.add(row)
        if documents:
            await repository.attach(self.session, documents, case.id)  # a shared one stays with the first child
        if rows:
            await self.session.flush()
            await audit.record(self.session, self.p, "case.materials", "case", str(case.id), None,
                               {"materials": [{"name": r.name, "kind": r.kind, "licence": r.licence_identifier,
                                               "document": str(r.document_id) if r.document_id else None}
                                              for r in rows]})


async def licence_facts(rule: ApprovalRule | None, p: Principal, user_auth: str | None,
                        credentials: CredentialsClient, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """`licence.<type code>: True` for each licence type the item's current rule names that the
    applicant holds valid. Only an applicant submitting for themselves has a wallet to read; for
    anyone else the facts stay unknown and such a rule does not match (an approver decides)."""
    wanted = rule_service.licence_types(rule.conditions) if rule is not None else set()
    wanted -= {k.removeprefix("licence.") for k in (known or {})}
    if not wanted or user_auth is None or not p.has("cases:apply"):
        return {}
    held = {x["type_code"] for x in await credentials.valid_licences(user_auth)}
    return {f"licence.{t}": True for t in wanted & held}
