"""Materials: the document store (limits, types, hashes, who may read) and attaching uploads to a
case at submission or later; staff statistics of the legal clock."""

import datetime as dt
import hashlib
import uuid

from sqlalchemy import update

from tongban.cases.case.models import Case

from tongban.cases.main import SERVICE
from tongban.shared.testing.plugin import running_service

ITEM = "442020000900"
PDF = b"%PDF-1.7\n" + b"x" * 2000


async def upload(client, headers, content=PDF, mime="application/pdf", name="户口簿.pdf", key=None):
    h = dict(headers) | {"Content-Type": mime} | ({"Idempotency-Key": key} if key else {})
    return await client.post("/api/v1/cases/documents", params={"filename": name}, content=content, headers=h)


async def test_multipart_uploads_as_wx_upload_file_sends_them(infra, token_issuer, tokens, kit):
    """wx.uploadFile: multipart/form-data, the file under the app's `name`, often typed
    application/octet-stream, `formData` fields beside it. Same limits and checks as a raw body."""
    async with running_service(SERVICE, infra, token_issuer, document_max_bytes=4096) as client:
        me = tokens.citizen()
        url = "/api/v1/cases/documents"
        r = await client.post(url, headers=me | {"Idempotency-Key": "mp-1"}, data={"case": "营业执照申请"},
                              files={"upload": ("营业执照.pdf", PDF, "application/octet-stream")})
        assert r.status_code == 201, r.text
        doc = r.json()
        assert (doc["filename"], doc["mime_type"], doc["size"]) == ("营业执照.pdf", "application/pdf", len(PDF))
        content = await client.get(f"{url}/{doc['id']}/content", headers=me)
        assert content.content == PDF
        r = await client.post(url, headers=me | {"Idempotency-Key": "mp-1"}, data={"case": "营业执照申请"},
                              files={"upload": ("营业执照.pdf", PDF, "application/octet-stream")})
        assert r.json()["id"] == doc["id"]   # a retry (a new random boundary) is a replay of the same key
        r = await client.post(url, headers=me, params={"filename": "照片.png"},
                              files={"file": ("tmp_8f3a.png", b"\x89PNG\r\n\x1a\n" + b"p" * 10, "image/png")})
        assert r.status_code == 201 and r.json()["filename"] == "照片.png"

        big = await client.post(url, headers=me, files={"file": ("a.pdf", b"%PDF-" + b"x" * 5000, "application/pdf")})
        assert big.status_code == 413 and big.json()["code"] == "document_too_large"
        r = await client.post(url, headers=me, files={"file": ("a.exe", b"MZ\x90\x00", "application/octet-stream")})
        assert r.status_code == 415
        r = await client.post(url, headers=me, files={"file": ("a.pdf", b"MZ\x90\x00 no pdf", "application/pdf")})
        assert r.status_code == 422 and r.json()["code"] == "document_unusable"
        r = await client.post(url, headers=me, files={"file": ("a.pdf", b"", "application/pdf")})
        assert r.status_code == 422
        r = await client.post(url, headers=me, files=[("a", ("a.pdf", PDF, "application/pdf")),
                                                      ("b", ("b.pdf", PDF, "application/pdf"))])
        assert r.status_code == 422 and r.json()["code"] == "document_unusable"
        r = await client.post(url, headers=me, data={"only": "fields"}, files={})
        assert r.status_code in (415, 422)
        r = await client.post(url, headers=me | {"Content-Type": "multipart/form-data; boundary=xyz"},
                              content=b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nnever ends")
        assert r.status_code == 422
        r = await client.post(url, headers=me | {"Content-Type": "application/pdf"}, content=PDF)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "filename"
        assert (await client.post(url, headers=tokens.approver(),
                                  files={"file": ("a.pdf", PDF, "application/pdf")})).status_code == 403


async def test_document_store_limits_and_readers(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer, document_max_bytes=4096) as client:
        await kit.publish_item(client)
        me = tokens.citizen()
        r = await upload(client, me, b"%PDF-" + b"x" * 5000)
        assert r.status_code == 413 and r.json()["code"] == "document_too_large"
        r = await upload(client, me, b"MZ\x90\x00", mime="application/x-msdownload", name="a.exe")
        assert r.status_code == 415
        r = await upload(client, me, b"MZ\x90\x00this is no pdf")
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
        assert (await upload(client, me, b"")).status_code == 422
        assert (await upload(client, tokens.approver())).status_code == 403

        r = await upload(client, me, key="u-1")
        assert r.status_code == 201, r.text
        doc = r.json()
        assert (doc["size"], doc["sha256"]) == (len(PDF), hashlib.sha256(PDF).hexdigest())
        assert (await upload(client, me, key="u-1")).json()["id"] == doc["id"]
        png = (await upload(client, me, b"\x89PNG\r\n\x1a\n" + b"p" * 10, "image/png", "照片.png")).json()

        # before it is attached only the uploader reads it
        url = f"/api/v1/cases/documents/{doc['id']}"
        assert (await client.get(url, headers=tokens.clerk())).status_code == 404
        r = await client.post("/api/v1/cases/cases", headers=tokens.citizen(kit.OTHER_ADULT), json={
            "basic_code": ITEM, "materials": [{"name": "户口簿", "document_id": doc["id"]}]})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "materials[0].document_id"
        r = await client.post("/api/v1/cases/cases", headers=me, json={
            "basic_code": ITEM, "materials": [{"name": "户口簿"}]})
        assert r.status_code == 422

        r = await client.post("/api/v1/cases/cases", headers=me, json={
            "basic_code": ITEM, "materials": [{"name": "户口簿", "document_id": doc["id"]}]})
        assert r.status_code == 201, r.text
        case = r.json()
        # a document attaches to one case only
        r = await client.post("/api/v1/cases/cases", headers=me, json={
            "basic_code": ITEM, "materials": [{"name": "户口簿", "document_id": doc["id"]}]})
        assert r.status_code == 422

        content = await client.get(f"{url}/content", headers=me)
        assert content.status_code == 200 and content.content == PDF
        assert content.headers["etag"] == f'"{doc["sha256"]}"'
        assert (await client.get(f"{url}/content", headers=tokens.clerk())).status_code == 200
        assert (await client.get(url, headers=tokens.approver())).status_code == 200
        # Staff out of scope are told which question failed; a stranger learns nothing; admins are
        # not among a document's readers (tongban.cases.policy: document.read).
        r = await client.get(url, headers=tokens.approver(kit.OTHER_DEPT))
        assert r.status_code == 403 and r.json()["code"] == "outside_scope"
        assert (await client.get(url, headers=tokens.citizen(kit.OTHER_ADULT))).status_code == 404
        r = await client.get(url, headers=tokens.admin())
        assert r.status_code == 403 and r.json()["code"] == "not_permitted"

        # later materials (a supplement): the applicant only, on an open case; on the timeline
        add = f"/api/v1/cases/cases/{case['id']}/materials"
        body = {"materials": [{"name": "照片", "document_id": png["id"]}], "reason": "补充照片"}
        assert (await client.post(add, json=body, headers=tokens.approver())).status_code == 403
        r = await client.post(add, json=body, headers=me)
        assert r.status_code == 200, r.text
        materials = (await client.get(add, headers=tokens.clerk())).json()
        assert [(m["name"], m["kind"]) for m in materials["items"]] == [("户口簿", "upload"), ("照片", "upload")]
        timeline = (await client.get(f"/api/v1/cases/cases/{case['id']}/timeline", headers=me)).json()
        assert timeline["items"][-1]["action"] == "add_materials"
        await client.post(f"/api/v1/cases/cases/{case['id']}/withdraw", json={}, headers=me)
        r = await client.post(add, json=body, headers=me)
        assert r.status_code == 409 and r.json()["state"] == "withdrawn"

        # licence-backed materials need svc-credentials: without it, a clear 503
        r = await client.post("/api/v1/cases/cases", headers=me, json={
            "basic_code": ITEM, "materials": [{"name": "身份证", "licence_type_code": "11100000000013338W001",
                                               "consent": True}]})
        assert r.status_code == 503 and r.json()["code"] == "credentials_unavailable"


async def test_on_time_statistics_by_item_and_department(infra, token_issuer, tokens, kit):
    async with running_service(SERVICE, infra, token_issuer) as client:
        await kit.publish_item(client)
        await kit.publish_item(client, "442020000901", name="另一事项", department=kit.OTHER_DEPT)
        ids = []
        for code in (ITEM, ITEM, "442020000901"):
            r = await client.post("/api/v1/cases/cases", json={"basic_code": code}, headers=tokens.citizen())
            ids.append((r.json()["id"], r.json()["department"]))
        for case_id, dept in ids[:2] + ids[2:]:
            for action, h in (("accept", tokens.clerk()), ("review", tokens.approver(dept))):
                assert (await client.post(f"/api/v1/cases/cases/{case_id}/{action}", json={},
                                          headers=h)).status_code == 200
        await client.post(f"/api/v1/cases/cases/{ids[0][0]}/approve", json={}, headers=tokens.approver())
        await client.post(f"/api/v1/cases/cases/{ids[2][0]}/deny", json={"reason": "材料不符"},
                          headers=tokens.approver(kit.OTHER_DEPT))

        url = "/api/v1/cases/statistics/cases"
        assert (await client.get(url, headers=tokens.citizen())).status_code == 403
        stats = (await client.get(url, headers=tokens.admin())).json()
        by_item = {s["key"]: s for s in stats["items"]}
        assert by_item[ITEM]["decided"] == 1 and by_item[ITEM]["on_time_rate"] == 1.0
        assert by_item[ITEM]["name"] == "退役军人优待证申领"
        assert by_item["442020000901"]["decided"] == 1
        assert by_item[ITEM]["average_working_days"] >= 0
        mine = (await client.get(url, params={"group_by": "department"}, headers=tokens.approver())).json()
        assert [s["key"] for s in mine["items"]] == [kit.DEPT]
        r = await client.get(url, params={"from": "2026-01-01", "to": "2025-01-01"}, headers=tokens.admin())
        assert r.status_code == 422

        # working days are counted on the legal calendar: received 2026-09-28 (after Mid-Autumn),
        # decided on 2026-10-23 Beijing time = 15 working days over National Day; a day late = overdue
        china = dt.timezone(dt.timedelta(hours=8))
        async with client.app.state.sessionmaker() as s, s.begin():
            for (case_id, _), (decided, deadline) in zip(ids[:2], [(dt.datetime(2026, 10, 23, 9, tzinfo=china),
                                                                      dt.date(2026, 10, 23)),
                                                                     (dt.datetime(2026, 10, 26, 9, tzinfo=china),
                                                                      dt.date(2026, 10, 23))], strict=True):
                await s.execute(update(Case).where(Case.id == uuid.UUID(case_id)).values(
                    received_on=dt.date(2026, 9, 28), decided_at=decided, deadline_on=deadline, paused_days=0))
        r = await client.get(url, params={"from": "2026-10-01", "to": "2026-10-31"}, headers=tokens.admin())
        [october] = r.json()["items"]
        assert (october["key"], october["decided"], october["on_time"]) == (ITEM, 2, 1)
        assert (october["average_working_days"], october["max_working_days"]) == (15.5, 16)
