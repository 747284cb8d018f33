"""Write the Cell Key Method's perturbation table, src/sukvinnofrid/reference/ptable.csv, from its
design (sukvinnofrid.cellkey.design) for the threshold SUKF_MIN_PUBLISH_COUNT (normally 5):

    .venv/bin/python scripts/make_ptable.py

tests/test_cellkey.py fails when the committed table is not what the design gives."""

from sukvinnofrid.cellkey import PTABLE_PATH, design, ptable_csv, read_ptable
from sukvinnofrid.config import get_settings

if __name__ == "__main__":
    min_count = get_settings().min_publish_count
    data = ptable_csv(design(min_count))
    read_ptable(data).check(min_count)
    PTABLE_PATH.write_bytes(data)
    rows = len(data.splitlines()) - 1
    print(f"{PTABLE_PATH}: {rows} rows for the threshold {min_count}")
