"""Definitions that test the limits (docs/pipelines.md, Limits), for the validator, the
server's four definition routes and the `validate` command alike.

Each case is a text template: `@SOURCE@`/`@DESTINATION@` take the account's connection
ids; the expected verdict is the server's status, error code and the leading field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from console.definition import Format

YAML_TEMPLATE = """\
definition_version: 1
name: @NAME@
source:
  connection:
    id: @SOURCE@
destination:
  connection:
    id: @DESTINATION@
sync:
  frequency: @FREQUENCY@
tables:
  - name: public.orders
transformations:
  - type: toggle_case
    table: public.orders
    config:
      case: upper
      x: @X@
"""

JSON_TEMPLATE = """\
{
  "definition_version": 1,
  "name": @NAME@,
  "source": {"connection": {"id": @SOURCE@}},
  "destination": {"connection": {"id": @DESTINATION@}},
  "sync": {"frequency": @FREQUENCY@},
  "tables": [{"name": "public.orders"}],
  "transformations": [
    {"type": "toggle_case", "table": "public.orders",
     "config": {"case": "upper",
                "x": @X@}}
  ]
}
"""

FREQUENCY = "sync.frequency"
NAME = "name"
CONFIG_X = "transformations[0].config.x"
# Where the literals sit in the templates (1-based line, column).
POSITIONS = {("yaml", FREQUENCY): (10, 14), ("yaml", CONFIG_X): (18, 10), ("yaml", NAME): (2, 7)}
POSITIONS |= {("json", FREQUENCY): (6, 25), ("json", CONFIG_X): (11, 22), ("json", NAME): (3, 11)}


@dataclass(frozen=True)
class Case:
    """One definition text and the server's expected verdict on it."""

    id: str
    format: Format
    frequency: str = "60"
    x: str = "1"
    name: str = "Limits"
    whole: str | None = None  # a complete text instead of the template
    status: int = 400
    code: str = "VALIDATION_FAILED"
    field: str | None = None  # the leading problem's field

    def text(self, source: int = 1, destination: int = 5) -> str:
        """The definition text, naming the given connections."""
        if self.whole is not None:
            return self.whole
        template = YAML_TEMPLATE if self.format == "yaml" else JSON_TEMPLATE
        return (
            template.replace("@SOURCE@", str(source))
            .replace("@DESTINATION@", str(destination))
            .replace("@FREQUENCY@", self.frequency)
            .replace("@X@", self.x)
            # A JSON string is also a YAML double-quoted scalar, escapes included.
            .replace("@NAME@", json.dumps(self.name))
        )

    @property
    def valid(self) -> bool:
        """Whether the server accepts it."""
        return self.status == 200


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# The config value sits at depth 4 (document, transformations, item, config): 60 more
# nested lists reach the limit of 64 exactly.
_AT_THE_LIMIT, _PAST_THE_LIMIT = _nested(60), _nested(61)
# 17,800 characters named 100 times: an 18.6 KB text standing for 1.79 MB.
LAUGHS_YAML = "{a0: &a0 " + "x" * 17_800 + ", b: [" + ", ".join(["*a0"] * 100) + "]}"
# The classic: nine levels of ten aliases, 10**9 strings from a few hundred bytes.
BILLION_YAML = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
)

INVALID_PAYLOAD = {"status": 400, "code": "INVALID_PAYLOAD"}
UNPROCESSABLE = {"status": 422, "code": "UNPROCESSABLE"}

BAD_CASES: tuple[Case, ...] = (
    # YAML: numbers
    Case("yaml-frequency-400-zeros", "yaml", frequency="0" * 400 + "60", field=FREQUENCY),
    Case("yaml-frequency-4301-digits", "yaml", frequency="9" * 4301, field=FREQUENCY),
    Case("yaml-frequency-hex-100k", "yaml", frequency="0x" + "f" * 100_000, field=FREQUENCY),
    Case("yaml-frequency-octal-5k", "yaml", frequency="0" + "7" * 5000, field=FREQUENCY),
    Case("yaml-frequency-binary-100k", "yaml", frequency="0b" + "1" * 100_000, field=FREQUENCY),
    Case("yaml-frequency-sexagesimal", "yaml", frequency="1:" * 30_000 + "1", field=FREQUENCY),
    Case("yaml-frequency-525601", "yaml", frequency="525601", field=FREQUENCY),
    Case("yaml-frequency-0", "yaml", frequency="0", field=FREQUENCY),
    Case("yaml-frequency-2**63", "yaml", frequency=str(2**63), field=FREQUENCY),
    Case("yaml-frequency-.inf", "yaml", frequency=".inf", field=FREQUENCY, **UNPROCESSABLE),
    Case("yaml-frequency-.nan", "yaml", frequency=".nan", field=FREQUENCY, **UNPROCESSABLE),
    Case("yaml-frequency-1e400", "yaml", frequency="1.0e+400", field=FREQUENCY, **UNPROCESSABLE),
    Case("yaml-config-.inf", "yaml", x=".inf", field=CONFIG_X),
    Case("yaml-config--.inf", "yaml", x="-.inf", field=CONFIG_X),
    Case("yaml-config-.nan", "yaml", x=".NaN", field=CONFIG_X),
    Case("yaml-config-1e400", "yaml", x="1.0e+400", field=CONFIG_X),
    Case("yaml-config-4301-digits", "yaml", x="9" * 4301, field=CONFIG_X),
    Case("yaml-config-hex-100k", "yaml", x="0x" + "f" * 100_000, field=CONFIG_X),
    Case("yaml-config-2**63", "yaml", x=str(2**63), field=CONFIG_X),
    Case("yaml-config-101-characters", "yaml", x="0." + "5" * 99, field=CONFIG_X),
    Case("yaml-config--2**63-1", "yaml", x=str(-(2**63) - 1), field=CONFIG_X),
    # YAML: graphs
    Case("yaml-recursive-list-11-bytes", "yaml", whole="a: &a [*a]\n", **INVALID_PAYLOAD),
    Case("yaml-recursive-map", "yaml", whole="x: &x {y: *x}\n", **INVALID_PAYLOAD),
    Case("yaml-recursive-config", "yaml", x="&c {self: [*c]}", **INVALID_PAYLOAD),
    Case("yaml-depth-65", "yaml", x=_PAST_THE_LIMIT, **INVALID_PAYLOAD),
    Case("yaml-depth-990", "yaml", x=_nested(990), **INVALID_PAYLOAD),
    Case("yaml-depth-past-libyaml", "yaml", x=_nested(1200), **INVALID_PAYLOAD),
    Case("yaml-laughs-18.6k-to-1.79m", "yaml", x=LAUGHS_YAML, **INVALID_PAYLOAD),
    Case("yaml-billion-laughs", "yaml", whole=BILLION_YAML, **INVALID_PAYLOAD),
    # names: bounded, no control characters
    *(
        Case(f"{fmt}-name-{label}", fmt, name=name, field=NAME)
        for fmt in ("yaml", "json")
        for label, name in (
            ("201-characters", "N" * 201),
            ("1m-characters", "N" * 1_000_000),
            ("nul", "Orders\x00"),
            ("escape", "Orders \x1b[31m"),
            ("c1", "Orders\x85"),
        )
    ),
    # JSON
    Case("json-frequency-1e400", "json", frequency="1e400", field=FREQUENCY, **UNPROCESSABLE),
    Case("json-frequency-4301-digits", "json", frequency="9" * 4301, field=FREQUENCY),
    Case("json-frequency-525601", "json", frequency="525601", field=FREQUENCY),
    Case("json-frequency-NaN", "json", frequency="NaN", **INVALID_PAYLOAD),
    Case("json-frequency-Infinity", "json", frequency="Infinity", **INVALID_PAYLOAD),
    Case("json-config--Infinity", "json", x="-Infinity", **INVALID_PAYLOAD),
    Case("json-config-1e400", "json", x="1e400", field=CONFIG_X),
    Case("json-config--1e400", "json", x="-1e400", field=CONFIG_X),
    Case("json-config-4301-digits", "json", x="9" * 4301, field=CONFIG_X),
    Case("json-config-2**63", "json", x=str(2**63), field=CONFIG_X),
    Case("json-config-101-characters", "json", x="0." + "5" * 99, field=CONFIG_X),
    Case("json-depth-65", "json", x=_PAST_THE_LIMIT, **INVALID_PAYLOAD),
    Case("json-depth-5000", "json", x=_nested(5000), **INVALID_PAYLOAD),
    Case("json-depth-100000", "json", x=_nested(100_000), **INVALID_PAYLOAD),
)

_VALID = {"status": 200, "code": ""}
GOOD_CASES: tuple[Case, ...] = (
    *(
        Case(f"{fmt}-{name}", fmt, **values, **_VALID)  # type: ignore[arg-type]
        for fmt in ("yaml", "json")
        for name, values in (
            ("frequency-1", {"frequency": "1"}),
            ("frequency-525600", {"frequency": "525600"}),
            ("config-2**63-1", {"x": str(2**63 - 1)}),
            ("config--2**63", {"x": str(-(2**63))}),
            ("config-1.5e300", {"x": "1.5e300" if fmt == "json" else "1.5e+300"}),
            ("config-100-character-number", {"x": "0." + "5" * 98}),
            ("depth-64", {"x": _AT_THE_LIMIT}),
            ("name-200-characters", {"name": "N" * 200}),
            ("name-with-tab-free-unicode", {"name": "Über → Snowflake ✓"}),
        )
    ),
    Case("yaml-shared-column-list", "yaml", x="{a: &cols [id, total], b: *cols}", **_VALID),
    Case("yaml-star-in-a-string", "yaml", x="'SELECT * FROM orders'", **_VALID),
)
