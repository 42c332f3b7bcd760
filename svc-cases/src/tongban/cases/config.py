from typing import Literal

from tongban.shared.config import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("CASES_")

    default_city_code: Literal["442000", "440300"] = "442000"   # the city of cases that do not name one
