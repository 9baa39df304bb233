"""Build the demo task pack (``data/taskpack/tasks.jsonl``, and ``tools.jsonl`` from demo/tool_pack.py)
from templates.

Run ``python -m edgelearn.demo.pack_build`` to regenerate it; the output is deterministic.

Every task asks for a small ``solve`` function that must call the made-up ``tidekit`` library
(``data/taskpack/lib/tidekit``), whose functions the prompts name by their project jargon
("the ripple checksum of text", "the keel of the code"). Each function has three *kinds* of
task: a plain call (3 tasks), a call over a list (3), and 4 tasks of a third kind (a total,
a joined string, a count or a comparison); the tasks of a kind differ in phrasing, argument
names and literals. The last task of every kind is held out, so every held-out task is a new
wording of something the train split teaches, never a new skill. Expected values in the tests
are literals computed here, by running the reference solution against the library once, at
build time.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent.parent / "data" / "taskpack"
LIB_DIR = PACK_DIR / "lib"
TASKS_PATH = PACK_DIR / "tasks.jsonl"
TOOLS_PATH = PACK_DIR / "tools.jsonl"  # the tool-use family (demo/tool_pack.py)

LEADS = (
    "Write solve({sig}) that returns {desc}.",
    "Implement solve({sig}) so that it returns {desc}.",
    "Define solve({sig}) returning {desc}.",
    "solve({sig}) should return {desc}.",
    "Create solve({sig}): it returns {desc}.",
    "Using tidekit, write solve({sig}) that returns {desc}.",
    "Return {desc}. Name the function solve({sig}).",
)


@dataclass(frozen=True)
class Kind:
    """One shape of task: the body of ``solve`` and the ways to ask for it."""

    imports: tuple[str, ...]
    body: str  # may use {0}, {1} for argument names and {lit} for the literal
    descs: tuple[str, ...]  # same placeholders
    params: tuple[tuple[str, ...], ...]  # argument-name tuples, cycled over the tasks
    inputs: tuple[tuple, ...]  # positional test inputs, 3 are used per task
    count: int = 3
    lits: tuple = ()  # cycled over the tasks when the kind has a literal


WORDS = ("harbour", "Tide 42", "ebb", "pier-7", "North Dock")
TITLES = ("Harbour Master Report 2024", "  the quick, brown fox  ", "Crane #7 out of service today",
          "ebb", "North-dock: tug schedule")
NUMBERS = (0, 42, 1295, 123456, 999999)
CODES = ("TK-00016-C", "TK-00000-A", "TK-0012W-A", "QA-02N9D-H", "TK-00ZZZ-F")
METERS = (10, 0.637, 3.5, 100, 0)
RECORDS = (
    {" Ship Name ": " Aurora ", "Gross-Tons": 12, "note": "", "eta": None},
    {"ID": 7, "Berth No": " B4"},
    {"crew count": 0, "Captain": "  Ahab", "flag": None},
    {"a-b c": "x", "Z": " "},
    {"Port": "Oslo"},
)
SERIES = ([1, 2, 3], [4.0], [10, 0, 5, 5], [], [2, 2, 9, 1, 3])
CENTS = (10000, 0, 12345, 999, 250000)
DATES = ("2024-03-05", "2023-12-31", "2025-01-01", "2020-02-29", "1999-07-14")
STAMPS = ("2024-03-05T10:00", "2023-12-31T23:59:59", "2025-01-01T00:00", "2020-02-29T12:30",
          "1999-07-14T06:15")
HEIGHTS = (0.2, 1.0, 2.5, 4.1, 0.4)
VERSIONS = ("1.7.11", "0.3.4", "2.0.0", "3.7.10", "0.0.11")
MASKABLE = ("card 1234-5678", "pin 12", "no digits", "+47 912 34 567", "9876543")
LISTS = (["A", "a ", " b", "B", "c"], ["x"], [], ["Dock", "dock", "DOCK ", "pier"], ["b", "a", "A"])
COUNTS = ({"pear": 1, "apple": 3, "fig": 3}, {"rope": 2}, {}, {"b": 1, "a": 1, "c": 5},
          {"net": 4, "buoy": 12})

def _pairs(pool: tuple, size: int = 2) -> tuple[tuple, ...]:
    """Return 5 one-argument inputs, each a list of ``size`` consecutive items of ``pool``."""
    return tuple(([pool[(i + j) % len(pool)] for j in range(size)],) for i in range(5))


def _plain(fn: str, descs: tuple[str, str], params: tuple[str, ...], pool: tuple) -> Kind:
    """A plain call ``fn(arg)``."""
    return Kind((fn,), f"return {fn}({{0}})", descs, tuple((p,) for p in params), tuple((x,) for x in pool))


def _mapped(fn: str, var: str, what: tuple[str, str], item: str, params: tuple[str, ...], pool: tuple) -> Kind:
    """A call over a list, asked for in the same two ways for every function."""
    one, many = what
    descs = (f"a list with the {one} of each {item} in {{0}}", f"the {many} of all the {item}s in {{0}}, as a list")
    return Kind((fn,), f"return [{fn}({var}) for {var} in {{0}}]", descs, tuple((p,) for p in params),
                _pairs(pool))


def _summed(fn: str, var: str, what: tuple[str, str], item: str, params: tuple[str, ...], pool: tuple) -> Kind:
    """The total of a number-valued function over a list (shared by every such function): 4 tasks."""
    one, many = what
    descs = (f"the total of the {many} of the {item}s in {{0}}", f"the sum of the {one} of every {item} in {{0}}")
    return Kind((fn,), f"return sum({fn}({var}) for {var} in {{0}})", descs, tuple((p,) for p in params),
                _pairs(pool, 3), count=4)


def _joined(fn: str, var: str, what: tuple[str, str], item: str, params: tuple[str, ...], pool: tuple) -> Kind:
    """A text-valued function over a list, joined with a literal separator (shared): 4 tasks."""
    one, many = what
    descs = (f'the {many} of the {item}s in {{0}}, joined with "{{lit}}"',
             f'one string: the {one} of each {item} in {{0}}, separated by "{{lit}}"')
    return Kind((fn,), f'return "{{lit}}".join({fn}({var}) for {var} in {{0}})', descs,
                tuple((p,) for p in params), _pairs(pool, 3), count=4, lits=(",", ";", "/", "|"))


def _twist(imports: tuple[str, ...], body: str, descs: tuple[str, str], params: tuple, inputs: tuple,
           lits: tuple = ()) -> Kind:
    """A twist of the function's own (a comparison, a literal argument, a count): 4 tasks."""
    params = tuple(p if isinstance(p, tuple) else (p,) for p in params)
    return Kind(imports, body, descs, params, inputs, count=4, lits=lits)


# Per function: a plain call (3 tasks), a call over a list (3 tasks, the same shape for every
# function) and 4 tasks of a third kind: a total, a joined string or a count shared by the
# functions whose result fits, or a twist of the function's own. The last task of each kind is
# held out.
SPECS: dict[str, tuple[Kind, ...]] = {
    "ripple": (
        _plain("ripple", ("the ripple checksum of {0}", "the ripple (tidekit checksum) of {0}"),
               ("text", "word", "line"), WORDS),
        _mapped("ripple", "s", ("ripple checksum", "ripple checksums"), "string", ("texts", "words", "names"), WORDS),
        _twist(("ripple",), "return ripple({0}) == ripple({1})",
               ("True when {0} and {1} have the same ripple checksum", "whether the ripples of {0} and {1} are equal"),
               (("a", "b"), ("left", "right"), ("first", "second"), ("one", "other")),
               (("tide", "baju"), ("ebb", "bbe"), ("gull", "biuw"), ("Tide", "tide"), ("dock", "cpzr"))),
    ),
    "shoal": (
        _plain("shoal", ("the shoal slug of {0}", "the shoal (tidekit slug) of {0}"),
               ("title", "heading", "text"), TITLES),
        _mapped("shoal", "t", ("shoal slug", "shoal slugs"), "title", ("titles", "headings", "captions"), TITLES),
        _joined("shoal", "t", ("shoal slug", "shoal slugs"), "title", ("titles", "headings", "names", "captions"),
                TITLES),
    ),
    "berth": (
        _plain("berth", ("the berth code of the number {0}", "the berth (tidekit record code) for {0}"),
               ("number", "record", "index"), NUMBERS),
        _mapped("berth", "n", ("berth code", "berth codes"), "number", ("numbers", "records", "indexes"), NUMBERS),
        _twist(("berth",), 'return berth({0}, prefix="{lit}")',
               ('the berth code of {0} with the prefix "{lit}"', 'the berth for {0}, using prefix "{lit}"'),
               ("number", "record", "seq", "index"), tuple((n,) for n in NUMBERS), lits=("QA", "MR", "ZT", "BX")),
    ),
    "keel": (
        _plain("keel", ("the keel (number inside) of the code {0}", "the keel number that the code {0} holds"),
               ("label", "ref", "tag"), CODES),
        _mapped("keel", "c", ("keel number", "keel numbers"), "code", ("codes", "refs", "tags"), CODES),
        _summed("keel", "c", ("keel number", "keel numbers"), "code", ("codes", "labels", "refs", "tags"), CODES),
    ),
    "to_tu": (
        _plain("to_tu", ("{0} meters converted to tide units (tu)", "the length {0} (in meters) in tu"),
               ("depth", "span", "length"), METERS),
        _mapped("to_tu", "m", ("length in tide units", "lengths in tide units"), "meter length",
                ("meters", "spans", "lengths"), METERS),
        _summed("to_tu", "m", ("length in tide units", "lengths in tide units"), "meter length",
                ("meters", "legs", "depths", "lengths"), METERS),
    ),
    "brine": (
        _plain("brine", ("the brined form of the record {0}", "the record {0}, brined (tidekit-normalized)"),
               ("record", "row", "entry"), RECORDS),
        _mapped("brine", "r", ("brined form", "brined forms"), "record", ("records", "rows", "entries"), RECORDS),
        _twist(("brine",), "return len(brine({0}))",
               ("how many fields of {0} remain after brining", "the number of fields left in {0} once brined"),
               ("record", "row", "data", "entry"), tuple((r,) for r in RECORDS)),
    ),
    "swell": (
        _plain("swell", ("the swell score of {0}", "the swell (tidekit trend score) of the numbers {0}"),
               ("values", "readings", "series"), SERIES),
        _mapped("swell", "v", ("swell score", "swell scores"), "number list", ("groups", "runs", "batches"), SERIES),
        _twist(("swell",), "return swell({0}) >= {lit}",
               ("True when the swell score of {0} is at least {lit}", "whether the swell of {0} reaches {lit}"),
               ("values", "readings", "scores", "series"), tuple((s,) for s in SERIES), lits=(2.5, 4, 1.5, 3.5)),
    ),
    "levy": (
        _plain("levy", ("the harbour levy in cents for a cargo worth {0} cents",
                        "the levy (tidekit harbour fee) for cargo value {0}"),
               ("cents", "value", "amount"), CENTS),
        _mapped("levy", "c", ("harbour levy", "harbour levies"), "cargo value", ("values", "prices", "amounts"),
                CENTS),
        _summed("levy", "c", ("harbour levy", "harbour levies"), "cargo value",
                ("values", "cargo", "prices", "amounts"), CENTS),
    ),
    "moor": (
        _plain("moor", ("the moor stamp of the date {0} (YYYY-MM-DD)",
                        "the moor (tidekit date stamp) for {0}, a YYYY-MM-DD string"),
               ("date", "day", "iso"), DATES),
        _mapped("moor", "d", ("moor stamp", "moor stamps"), "YYYY-MM-DD date", ("dates", "days", "isos"), DATES),
        _joined("moor", "d", ("moor stamp", "moor stamps"), "date", ("dates", "days", "calendar", "isos"), DATES),
    ),
    "gauge": (
        _plain("gauge", ("the gauge label for a wave height of {0} meters",
                         "the gauge (tidekit sea-state label) of wave height {0}"),
               ("height", "wave", "meters"), HEIGHTS),
        _mapped("gauge", "h", ("gauge label", "gauge labels"), "wave height", ("heights", "waves", "samples"),
                HEIGHTS),
        _twist(("gauge",), 'return sum(gauge(h) == "{lit}" for h in {0})',
               ('how many wave heights in {0} have the gauge label "{lit}"',
                'the count of heights in {0} whose gauge is "{lit}"'),
               ("heights", "waves", "samples", "readings"), _pairs(HEIGHTS, 5), lits=("brisk", "calm", "wild", "rough")),
    ),
    "drift": (
        _plain("drift", ("the drift (next tidekit version) of {0}", "the version that version {0} drifts to next"),
               ("version", "current", "release"), VERSIONS),
        _mapped("drift", "v", ("drift", "drifts"), "version", ("versions", "tags", "releases"), VERSIONS),
        _twist(("drift",), "return drift(drift({0}))",
               ("the version two drifts after {0}", "the version that {0} reaches after drifting twice"),
               ("version", "current", "tag", "release"), tuple((v,) for v in VERSIONS)),
    ),
    "crest": (
        _plain("crest", ("{0} with its digits crested", "the crest (tidekit digit mask) of the text {0}"),
               ("text", "line", "message"), MASKABLE),
        _mapped("crest", "t", ("crest", "crests"), "string", ("texts", "lines", "messages"), MASKABLE),
        _joined("crest", "t", ("crest", "crests"), "string", ("texts", "lines", "notes", "messages"), MASKABLE),
    ),
    "spindle": (
        _plain("spindle", ("the list {0} spindled (tidekit dedup)", "{0} with duplicates spindled away"),
               ("items", "names", "tags"), LISTS),
        Kind(("spindle",), "return sorted(spindle({0}))",
             ("the list {0} spindled and then sorted", "a sorted list of {0} after spindling"),
             (("items",), ("tags",), ("words",)), tuple((lst,) for lst in LISTS)),
        _twist(("spindle",), "return len(spindle({0}))",
               ("how many items of {0} remain after spindling", "the number of items left in {0} once spindled"),
               ("items", "names", "words", "labels"), tuple((lst,) for lst in LISTS)),
    ),
    "hull": (
        _plain("hull", ("the hull manifest line for the counts in the dict {0}",
                        "the hull line (tidekit manifest) of {0}, a dict of name to count"),
               ("counts", "cargo", "stock"), COUNTS),
        _mapped("hull", "c", ("hull line", "hull lines"), "count dict", ("manifests", "loads", "tallies"), COUNTS),
        _joined("hull", "c", ("hull line", "hull lines"), "count dict", ("manifests", "loads", "holds", "tallies"),
                COUNTS),
    ),
}


def reference_source(kind: Kind, names: tuple[str, ...], lit) -> str:
    """Return the full reference solution of one task."""
    body = kind.body.format(*names, lit=lit)
    return f"from tidekit import {', '.join(kind.imports)}\n\n\ndef solve({', '.join(names)}):\n    {body}\n"


def tests_source(reference: str, inputs: list[tuple]) -> str:
    """Return assert lines whose expected values come from running ``reference`` now."""
    namespace: dict = {}
    exec(compile(reference, "<reference>", "exec"), namespace)
    lines = []
    for args in inputs:
        expected = namespace["solve"](*args)
        lines.append(f"assert solve({', '.join(repr(a) for a in args)}) == {expected!r}")
    return "\n".join(lines) + "\n"


def build_tasks() -> list[dict]:
    """Return every task of the pack, in id order."""
    if str(LIB_DIR) not in sys.path:
        sys.path.insert(0, str(LIB_DIR))
    tasks = []
    counter = 0
    for kinds in SPECS.values():
        for kind in kinds:
            for t in range(kind.count):
                names = kind.params[t % len(kind.params)]
                lit = kind.lits[t % len(kind.lits)] if kind.lits else None
                desc = kind.descs[t % len(kind.descs)].format(*names, lit=lit)
                prompt = LEADS[counter % len(LEADS)].format(sig=", ".join(names), desc=desc)
                reference = reference_source(kind, names, lit)
                inputs = [kind.inputs[(t + j) % len(kind.inputs)] for j in range(3)]
                counter += 1
                tasks.append({
                    "id": f"tk-{counter:03d}",
                    "split": "heldout" if t == kind.count - 1 else "train",
                    "prompt": prompt,
                    "entry": "solve",
                    "reference": reference,
                    "tests": tests_source(reference, inputs),
                })
    return tasks


def main() -> None:
    from edgelearn.demo.tool_pack import build_tool_tasks

    for path, tasks in ((TASKS_PATH, build_tasks()), (TOOLS_PATH, build_tool_tasks())):
        with path.open("w", encoding="utf-8") as fh:
            for task in tasks:
                fh.write(json.dumps(task, ensure_ascii=False) + "\n")
        held = sum(t["split"] == "heldout" for t in tasks)
        print(f"wrote {len(tasks)} tasks ({len(tasks) - held} train, {held} held out) to {path}")


if __name__ == "__main__":
    main()
