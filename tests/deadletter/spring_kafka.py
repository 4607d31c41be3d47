"""Spring Kafka's own DeadLetterPublishingRecoverer as an oracle: resolve it and run SpringDeadLetters.java.

The jars come from Maven Central through tests/deadletter/spring/pom.xml, as devtools/local_kafka.py
resolves the broker's: `mvn dependency:copy-dependencies` into var/spring-kafka/libs (ignored, never
committed), again only when the pom changes. `python -m tests.deadletter.spring_kafka` resolves them
ahead of a test run.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
POM = HERE / "spring" / "pom.xml"
PROGRAM = HERE / "spring" / "SpringDeadLetters.java"
LIBS = ROOT / "var" / "spring-kafka" / "libs"
JAVA_TIMEOUT = 180.0


def ensure_jars() -> Path:
    """The folder of Spring Kafka's jars, resolved once per version of the pom."""
    LIBS.parent.mkdir(parents=True, exist_ok=True)
    stamp = LIBS / ".resolved"
    with open(LIBS.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs on one work tree resolve one after the other
        if stamp.exists() and stamp.stat().st_mtime >= POM.stat().st_mtime:
            return LIBS
        # Into a fresh folder: jars of an older version left beside the new ones would share the classpath.
        fresh = LIBS.with_name("libs.new")
        shutil.rmtree(fresh, ignore_errors=True)
        result = subprocess.run(
            ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={fresh}"],
            capture_output=True,
            text=True,
            timeout=600,  # a first resolution downloads the jars
        )
        if result.returncode != 0:
            raise RuntimeError(f"Maven could not resolve {POM}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        shutil.rmtree(LIBS, ignore_errors=True)
        fresh.rename(LIBS)
        stamp.touch()
    return LIBS


@dataclass(frozen=True)
class WrittenRecord:
    """A dead letter as Spring wrote it, read back from the dead-letter topic by Kafka's Java consumer."""

    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes | None]]

    def values(self, name: str) -> list[bytes | None]:
        return [value for header, value in self.headers if header == name]


@dataclass(frozen=True)
class SpringRun:
    records: list[WrittenRecord]
    seconds: float  # the whole Java run: compiling the source file, Spring's containers, the read-back


def write_dead_letters(bootstrap: str, source: str, hop: str, dlt: str, group: str, hop_group: str) -> SpringRun:
    """Run SpringDeadLetters.java (its header says what it writes) and parse what it read back."""
    libs = ensure_jars()
    started = time.monotonic()
    result = subprocess.run(
        ["java", "-cp", f"{libs}/*", str(PROGRAM), bootstrap, source, hop, dlt, group, hop_group],
        capture_output=True,
        text=True,
        timeout=JAVA_TIMEOUT,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0 or not result.stdout.endswith("DONE\n"):
        raise RuntimeError(f"SpringDeadLetters.java failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return SpringRun(parse(result.stdout), seconds)


def _hex(text: str) -> bytes | None:
    return None if text == "-" else bytes.fromhex(text)


def parse(output: str) -> list[WrittenRecord]:
    records: list[WrittenRecord] = []
    for line in output.splitlines():
        kind, *fields = line.split(" ")
        if kind == "RECORD":
            partition, offset, key = fields
            records.append(WrittenRecord(int(partition), int(offset), _hex(key), []))
        elif kind == "HEADER":
            name, value = fields
            records[-1].headers.append((name, _hex(value)))
    return records


if __name__ == "__main__":
    print(ensure_jars())
