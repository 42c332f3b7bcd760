from fastapi import APIRouter, Request

from tongban.interop.identity import service
from tongban.interop.identity.schemas import IdentityRead
from tongban.interop.policy import Public

router = APIRouter(tags=["identity"])


def _read(request: Request) -> IdentityRead:
    ring: service.KeyRing = request.app.state.keyring
    return IdentityRead(region_code=ring.region_code, name=ring.name, signing_kid=ring.kid, keys=ring.keys)


@router.get("/identity", response_model=IdentityRead, dependencies=[Public("identity.read")])
async def get_identity(request: Request) -> IdentityRead:
    """Our city's identity and public signing keys (public: partners fetch them to register us)."""
    return _read(request)
