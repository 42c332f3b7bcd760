from sqlalchemy import Select

from tongban.credentials.licence import repository as licences
from tongban.credentials.licence.models import Licence
from tongban.credentials.licence_type.models import LicenceType
from tongban.credentials.signing.models import Issuer


def holder_listing(holder_type: str, holder_id: str) -> Select:
    """The holder's current licences (not superseded) with their type's and issuer's names, newest
    first: the wallet's own query (ix_licence_holder) plus two primary-key joins."""
    return (licences.holder_query(holder_type, holder_id, include_superseded=False)
            .add_columns(LicenceType.name.label("type_name"), Issuer.name.label("issuer_name"))
            .join(LicenceType, LicenceType.code == Licence.type_code)
            .join(Issuer, Issuer.code == Licence.issuer_code))
