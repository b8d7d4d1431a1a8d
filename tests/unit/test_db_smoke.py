from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.store.models import Party


def test_engine_round_trip(engine: Engine) -> None:
    with Session(engine) as s:
        s.add(Party(code="HN", kind="country", name_en="Honduras", timezone="America/Tegucigalpa", language="es"))
        s.commit()
        assert s.exec(select(Party.code)).all() == ["HN"]
