"""The analysts' notebooks: committed without outputs, connected only through the library, and each
executed top to bottom (nbclient, this .venv's ``python3`` kernel) against the session's demo
database, read-only; plus the README's ``read_postgis`` snippet for analysts."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import geopandas as gpd
import nbformat
import pytest
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from gis.settings import PROJECT_ROOT

NOTEBOOKS = Path(PROJECT_ROOT) / "notebooks"
README = Path(PROJECT_ROOT) / "README.md"
EXPECTED = ["01_hotspots.ipynb", "02_trends_and_workload.ipynb", "03_repeat_locations.ipynb"]
CELL_TIMEOUT_S = 300
SNIPPET = re.compile(r"<!-- analyst-snippet -->\s*```python\n(?P<code>.*?)```\s*<!-- /analyst-snippet -->", re.S)


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_the_three_analyst_notebooks_exist():
    assert set(EXPECTED) <= {p.name for p in notebook_paths()}


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs_or_execution_counts(path):
    nb = read(path)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} keep outputs or execution counts; clear them before committing"
    assert nb.nbformat == 4 and nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_notebooks_start_with_a_question_and_connect_only_through_the_library(path):
    nb = read(path)
    assert nb.cells[0].cell_type == "markdown" and "问题" in nb.cells[0].source
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "workflows.connect_analyst()" in code
    for secret in ("postgresql://", "postgres://", "password", "GIS_HOME", "DATABASE_URL", "/work/", "/tmp/", "psycopg2"):
        assert secret not in code, f"{path.name} names {secret!r}: the connection must come from the library"
    assert sum("conclusion" in cell.metadata.get("tags", []) for cell in nb.cells) == 1


# -- executed against the demo database ------------------------------------------------------------


def kernel_env(database_url: str) -> dict[str, str]:
    """The kernel's environment: ours, on the demo database, in read-only transactions (a notebook
    that writes fails), without MPLBACKEND (Streamlit sets Agg when the UI tests import it, and the
    inline backend would then draw no figure)."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["DATABASE_URL"] = database_url
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c default_transaction_read_only=on").strip()
    env["GIS_ANALYST"] = "demo_analyst"  # the demo's analyst (browser tests add accounts of their own)
    return env


async def _execute(path: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    nb = read(path)
    km = AsyncKernelManager(kernel_name="python3")
    # "python3" must be this interpreter (the .venv's), not another Python's kernel
    kernel_python = km.format_kernel_cmd()[0]
    assert Path(kernel_python).resolve() == Path(sys.executable).resolve(), kernel_python
    client = NotebookClient(nb, km=km, kernel_name="python3", timeout=CELL_TIMEOUT_S, allow_errors=False,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    await client.async_execute(env=env)
    return nb


@pytest.fixture(scope="module")
def executed(demo_database_url) -> dict[str, nbformat.NotebookNode | BaseException]:
    """Every notebook executed, all at once (one kernel each: the imports and statistics overlap),
    by name; a notebook that failed gives its exception."""
    env = kernel_env(demo_database_url)

    async def everything():
        return await asyncio.gather(*(_execute(path, env) for path in notebook_paths()), return_exceptions=True)

    return dict(zip([p.name for p in notebook_paths()], asyncio.run(everything())))


def text_of(outputs) -> str:
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.append(data.get("text/markdown", "") or data.get("text/plain", ""))
    return "".join(parts).strip()


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in notebook_paths()])
def test_notebook_runs_top_to_bottom_on_the_demo_and_draws_and_concludes(name, executed):
    nb = executed[name]
    if isinstance(nb, BaseException):
        raise nb
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{name} drew no figure"
    conclusion = next(cell for cell in nb.cells if "conclusion" in cell.metadata.get("tags", []))
    text = text_of(conclusion.outputs)
    assert text, f"{name}: the conclusion cell printed nothing"
    assert "中原区" in text  # computed from the data: the demo district's name comes from the grids


# -- the README's snippet -----------------------------------------------------------------------


def test_the_readme_analyst_snippet_reads_cases_with_masked_phones(demo_database_url, monkeypatch):
    found = SNIPPET.search(README.read_text(encoding="utf-8"))
    assert found, "README.md has no python block between <!-- analyst-snippet --> and <!-- /analyst-snippet -->"
    monkeypatch.setenv("DATABASE_URL", demo_database_url)
    monkeypatch.setenv("GIS_ANALYST", "demo_analyst")  # browser tests add analyst accounts of their own
    namespace: dict = {}
    try:
        exec(compile(found.group("code"), "README.md (analyst snippet)", "exec"), namespace)
        cases = namespace["cases"]
        assert namespace["services"].principal.role == "analyst"
        assert isinstance(cases, gpd.GeoDataFrame) and len(cases) > 0 and cases.crs.to_epsg() == 4326
        phones = cases["reporter_phone"].dropna()
        assert len(phones) > 0  # the demo gives some cases a reporter's phone
        assert phones.str.contains(r"\*{4}", regex=True).all()
        assert not phones.str.contains(r"\d{5}", regex=True).any(), phones[phones.str.contains(r"\d{5}")].head()
    finally:
        if "services" in namespace:
            namespace["services"].close()
