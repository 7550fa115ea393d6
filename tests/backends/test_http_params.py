"""x-mcp-header: which annotations are valid, and how arguments become Mcp-Param-* headers."""

from __future__ import annotations

import base64
import re

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_acp.backends.http_params import (
    HeaderParam,
    HeaderValueRefused,
    InvalidToolHeaders,
    header_params,
    param_headers,
)

# RFC 9110 field-value as the spec narrows it: visible ASCII and inner spaces, nothing at the ends.
FIELD_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?|")
SENTINEL = re.compile(r"=\?base64\?(.*)\?=")


def schema(**properties: dict) -> dict:
    return {"type": "object", "properties": properties}


def decoded(value: str) -> str:
    match = SENTINEL.fullmatch(value)
    return base64.b64decode(match.group(1), validate=True).decode() if match else value


def test_annotations_on_primitive_properties_nested_through_properties_are_found() -> None:
    found = header_params(
        schema(
            region={"type": "string", "x-mcp-header": "Region"},
            options={"type": "object", "properties": {"dry": {"type": "boolean", "x-mcp-header": "Dry-Run"}}},
            count={"type": "integer", "x-mcp-header": "Count"},
            query={"type": "string"},
        )
    )
    assert found == (
        HeaderParam(("count",), "Count", "integer"),
        HeaderParam(("options", "dry"), "Dry-Run", "boolean"),
        HeaderParam(("region",), "Region", "string"),
    )


@pytest.mark.parametrize(
    ("input_schema", "reason"),
    [
        (schema(v={"type": "string", "x-mcp-header": ""}), "empty"),
        (schema(v={"type": "string", "x-mcp-header": 7}), "not a string"),
        (schema(v={"type": "object", "x-mcp-header": "Data"}), "only string, integer and boolean"),
        (schema(v={"type": "array", "items": {"type": "string"}, "x-mcp-header": "Items"}), "only string"),
        (schema(v={"type": "null", "x-mcp-header": "Nil"}), "only string"),
        (schema(v={"type": "number", "x-mcp-header": "Score"}), "only string"),
        (schema(v={"x-mcp-header": "Untyped"}), "only string"),
        (
            schema(a={"type": "string", "x-mcp-header": "Region"}, b={"type": "string", "x-mcp-header": "Region"}),
            "twice",
        ),
        (
            schema(a={"type": "string", "x-mcp-header": "MyField"}, b={"type": "string", "x-mcp-header": "myfield"}),
            "twice",
        ),
        (schema(v={"type": "string", "x-mcp-header": "My Region"}), "token"),
        (schema(v={"type": "string", "x-mcp-header": "Region:Primary"}), "token"),
        (schema(v={"type": "string", "x-mcp-header": "Région"}), "token"),
        (schema(v={"type": "string", "x-mcp-header": "Region\t1"}), "token"),
        (schema(v={"type": "string", "x-mcp-header": "A\r\nX-Injected: 1"}), "token"),
        (schema(v={"type": "array", "items": {"type": "string", "x-mcp-header": "Item"}}), "'properties' alone"),
        (schema(v={"anyOf": [{"type": "string", "x-mcp-header": "Any"}]}), "'properties' alone"),
        ({"type": "object", "$defs": {"d": {"type": "string", "x-mcp-header": "Def"}}}, "'properties' alone"),
        ({"type": "string", "x-mcp-header": "Root"}, "schema root"),
    ],
)
def test_invalid_annotations_make_the_tool_invalid(input_schema: dict, reason: str) -> None:
    with pytest.raises(InvalidToolHeaders, match=re.escape(reason)):
        header_params(input_schema)


def test_an_annotation_key_inside_data_is_not_an_annotation() -> None:
    assert header_params(schema(v={"type": "object", "default": {"x-mcp-header": "Data"}})) == ()


def test_a_schema_deeper_than_the_recursion_limit_is_judged_not_crashed() -> None:
    deep: dict = {"type": "string", "x-mcp-header": "Deep"}
    for _ in range(5000):
        deep = {"type": "object", "properties": {"p": deep}}
    (param,) = header_params(deep)
    assert len(param.path) == 5000


def test_values_are_converted_as_the_spec_says_and_null_or_absent_ones_are_omitted() -> None:
    params = (
        HeaderParam(("region",), "Region", "string"),
        HeaderParam(("n",), "N", "integer"),
        HeaderParam(("flag",), "Flag", "boolean"),
        HeaderParam(("nested", "x"), "X", "string"),
        HeaderParam(("gone",), "Gone", "string"),
        HeaderParam(("nil",), "Nil", "boolean"),
    )
    arguments = {"region": " padded ", "n": 42.0, "flag": False, "nested": "not an object", "nil": None}
    assert param_headers(params, arguments) == {
        "Mcp-Param-Region": "=?base64?IHBhZGRlZCA=?=",
        "Mcp-Param-N": "42",
        "Mcp-Param-Flag": "false",
    }


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("integer", True),
        ("integer", 1.5),
        ("integer", 2**53),
        ("integer", "7"),
        ("boolean", 1),
        ("string", 3),
        ("string", {}),
    ],
)
def test_a_value_that_is_not_its_annotated_type_is_refused(kind: str, value: object) -> None:
    with pytest.raises(HeaderValueRefused):
        param_headers((HeaderParam(("v",), "V", kind),), {"v": value})


@given(st.text())
def test_any_string_gives_a_valid_header_value_that_decodes_to_it(value: str) -> None:
    try:
        headers = param_headers((HeaderParam(("v",), "V", "string"),), {"v": value})
    except HeaderValueRefused:  # a clean refusal is allowed; nothing else is
        return
    header = headers["Mcp-Param-V"]
    assert FIELD_VALUE.fullmatch(header), header
    assert decoded(header) == value
    h11.Request(method="POST", target="/", headers=[("Host", "x"), ("Mcp-Param-V", header)])  # HTTP accepts it


@given(st.text())
def test_any_header_name_is_a_valid_annotation_or_a_clean_refusal(name: str) -> None:
    try:
        (param,) = header_params(schema(v={"type": "string", "x-mcp-header": name}))
    except InvalidToolHeaders:
        return
    h11.Request(method="POST", target="/", headers=[("Host", "x"), ("Mcp-Param-" + param.name, "v")])


@given(st.integers() | st.booleans() | st.floats(allow_nan=True) | st.none() | st.text())
def test_any_integer_argument_gives_its_decimal_or_a_clean_refusal(value: object) -> None:
    try:
        headers = param_headers((HeaderParam(("v",), "V", "integer"),), {"v": value})
    except HeaderValueRefused:
        return
    if value is None:
        assert headers == {}
    else:
        assert int(headers["Mcp-Param-V"]) == value
