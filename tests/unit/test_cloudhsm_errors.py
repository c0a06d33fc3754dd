"""One error class per error shape of the cloudhsmv2 model, named as its code; faults are 500s."""

from __future__ import annotations

from hsmkms.cloudhsm import errors
from hsmkms.protocol.model import load, service_model


def test_every_modelled_error_has_a_class_with_its_status() -> None:
    model = service_model("cloudhsmv2")
    raw = load("cloudhsmv2").description
    for shape in model.error_shapes:
        cls = getattr(errors, shape.name)
        assert cls.code() == shape.name
        fault = raw["shapes"][shape.name].get("fault", False)
        assert cls.status == (500 if fault else 400), shape.name
        assert list(shape.members) == ["Message"]
    assert sorted(errors.__all__) == sorted(s.name for s in model.error_shapes)


def test_internal_failure_is_the_only_fault() -> None:
    assert errors.CloudHsmInternalFailureException("x").fault
    assert not errors.CloudHsmInvalidRequestException("x").fault


def test_message_table_formats() -> None:
    text = errors.message("not_fully_activated", id="cluster-igklspoyj5v")
    assert text == ("Cluster 'cluster-igklspoyj5v' already contains an HSM but has not yet been "
                    "fully activated")
