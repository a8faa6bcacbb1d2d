import copy
import json
import logging
import pickle

import pytest

from tta_secrets import Secret
from tta_secrets.secret import MASK

VALUE = "sk-test-0123456789abcdef"


def test_every_rendering_shows_the_mask():
    secret = Secret(VALUE)
    renderings = [
        repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>30}",
        "%s" % (secret,), "%r" % (secret,), "{}".format(secret),  # noqa: UP031, UP032
        repr([secret]), repr({"k": secret}),
    ]  # fmt: skip
    for text in renderings:
        assert VALUE not in text
        assert MASK in text


def test_the_value_is_read_explicitly():
    assert Secret(VALUE).get_secret_value() == VALUE


def test_json_dumps_raises_rather_than_leaking():
    with pytest.raises(TypeError):
        json.dumps(Secret(VALUE))
    with pytest.raises(TypeError):
        json.dumps({"k": Secret(VALUE)})


def test_json_dumps_with_default_str_writes_the_mask():
    text = json.dumps({"k": Secret(VALUE)}, default=str)
    assert VALUE not in text
    assert json.loads(text) == {"k": MASK}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_is_refused(protocol):
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(VALUE), protocol=protocol)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps({"nested": [Secret(VALUE)]}, protocol=protocol)


def test_copies_are_the_same_immutable_object():
    secret = Secret(VALUE)
    assert copy.copy(secret) is secret
    holder = {"key": secret}
    assert copy.deepcopy(holder)["key"] is secret


def test_equality_compares_values_and_never_equals_a_plain_string():
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret(VALUE + "x")
    assert Secret(VALUE) != VALUE
    assert VALUE != Secret(VALUE)  # noqa: SIM300 - the reflected comparison


def test_not_hashable():
    with pytest.raises(TypeError):
        hash(Secret(VALUE))


def test_only_strings():
    with pytest.raises(TypeError, match="holds a str"):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_no_attribute_dict_shows_the_value():
    secret = Secret(VALUE)
    assert not hasattr(secret, "__dict__")
    assert VALUE not in repr(dir(secret))


def test_preview_shows_four_characters_of_long_values_only():
    assert Secret(VALUE).preview() == "****cdef"
    assert Secret("short-value").preview() == "****"


def test_logging_a_secret_shows_the_mask(caplog):
    with caplog.at_level(logging.INFO):
        logging.getLogger("tta.test").info("key is %s, repr %r", Secret(VALUE), Secret(VALUE))
    assert VALUE not in caplog.text
    assert MASK in caplog.text
