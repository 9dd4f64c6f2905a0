"""Reading landing files: formats, source lines, and errors that name the file and line or byte."""

import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest

from ml_assets.lib.data.ingestion import (
    IngestionError,
    check_columns,
    landing_paths,
    read_landing_file,
)

COLUMNS = ["numeric1", "numeric2", "category", "target"]


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_csv_rows_keep_their_text_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "numeric1,numeric2,category,target\n0.10,50,A,1\n,60,B,0\n")
    frame = read_landing_file(path)
    assert frame["numeric1"].tolist() == ["0.10", pd.NA]
    assert frame["_source_line"].tolist() == [2, 3]
    assert frame["_source_file"].unique().tolist() == ["a.csv"]


def test_csv_lines_stay_exact_with_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", 'note,target\n"two\nlines",1\n\nplain,0\n')
    assert read_landing_file(path)["_source_line"].tolist() == [2, 5]


def test_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbfnumeric1,target\n1,0\n")
    assert list(read_landing_file(path).columns[:2]) == ["numeric1", "target"]


def test_parquet_and_jsonl_become_the_same_text_table(tmp_path: Path) -> None:
    frame = pd.DataFrame({"numeric1": [0.5, None], "category": ["A", "B"], "target": [1, 0]})
    frame.to_parquet(tmp_path / "p.parquet")
    write(
        tmp_path,
        "j.jsonl",
        '{"numeric1": 0.5, "category": "A", "target": 1}\n\n'
        '{"numeric1": null, "category": "B", "target": 0}\n',
    )
    parquet, jsonl = (
        read_landing_file(tmp_path / "p.parquet"),
        read_landing_file(tmp_path / "j.jsonl"),
    )
    assert parquet["numeric1"].tolist() == jsonl["numeric1"].tolist() == ["0.5", pd.NA]
    assert parquet["target"].tolist() == jsonl["target"].tolist() == ["1", "0"]
    assert jsonl["_source_line"].tolist() == [1, 3]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "empty.csv: file is empty (0 bytes)"),
        (
            "ragged.csv",
            "a,b\n1,2\n3\n4,5,6\n",
            "ragged.csv: ragged rows (2): line 3: 1 fields, expected 2; line 4: 3 fields",
        ),
        ("latin1.csv", b"a,b\n1,2\ncaf\xe9,3\n", "latin1.csv: line 3, byte 11: not valid UTF-8"),
        ("bad.jsonl", '{"a": 1}\n{"a": \n', "bad.jsonl: line 2, column 7: invalid JSON"),
        ("list.jsonl", "[1, 2]\n", "list.jsonl: line 1: expected a JSON object per line"),
        ("data.xlsx", b"PK\x03\x04", "data.xlsx: unsupported format '.xlsx'"),
        ("dup.csv", "a,a\n1,2\n", "dup.csv: line 1: duplicate column names ['a']"),
        ("broken.parquet", b"PAR1 not really", "broken.parquet: not a readable Parquet file"),
    ],
)
def test_unreadable_files_fail_naming_file_and_position(
    tmp_path: Path, name, data, message
) -> None:
    with pytest.raises(IngestionError) as error:
        read_landing_file(write(tmp_path, name, data))
    assert str(error.value).startswith(message)


def test_header_only_csv_reads_as_zero_rows(tmp_path: Path) -> None:
    frame = read_landing_file(write(tmp_path, "h.csv", "numeric1,target\n"))
    assert len(frame) == 0


def test_missing_and_extra_columns_are_named(tmp_path: Path) -> None:
    frame = read_landing_file(write(tmp_path, "f.csv", "numeric1,extra,target\n1,2,0\n"))
    with pytest.raises(
        IngestionError, match=r"f.csv: missing required column\(s\) \['numeric2', 'category'\]"
    ):
        check_columns(frame, "f.csv", COLUMNS, strict=True)
    with pytest.raises(IngestionError, match=r"f.csv: unexpected column\(s\) \['extra'\]"):
        check_columns(frame, "f.csv", ["numeric1", "target"], strict=True)
    check_columns(frame, "f.csv", ["numeric1", "target"], strict=False)


def test_listing_skips_partial_and_hidden_files(tmp_path: Path) -> None:
    write(tmp_path, "b.csv", "x\n1\n")
    write(tmp_path, "a.csv", "x\n2\n")
    for skipped in ("c.csv.part", "d.tmp", ".hidden.csv"):
        write(tmp_path, skipped, "x\n3\n")
    paths, refused = landing_paths(tmp_path)
    assert [path.name for path in paths] == ["a.csv", "b.csv"] and refused == []


def test_symlinks_out_of_the_folder_and_control_characters_are_refused_unread(
    tmp_path: Path,
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    secret = write(tmp_path, "secret.csv", "x\n1\n")
    os.symlink(secret, landing / "link.csv")
    write(landing, "bad\nname.csv", "x\n1\n")
    write(landing, "good.csv", "x\n1\n")
    paths, refused = landing_paths(landing)
    assert [path.name for path in paths] == ["good.csv"]
    reasons = {entry.name: entry.reason for entry in refused}
    assert reasons["link.csv"].startswith("link.csv: resolves outside the landing folder")
    assert reasons["bad\nname.csv"] == "'bad\\nname.csv': file name contains control characters"
    link_hash = hashlib.sha256(str(secret).encode()).hexdigest()
    assert {entry.name: entry.sha256 for entry in refused}["link.csv"] == link_hash
