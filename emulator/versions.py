"""Which Web Services functions exist in which Moodle release the emulator can stand in for.

The emulator implements the functions of Moodle 5.0; an older release lacks those added since, and a
call to a function the release does not have is answered as Moodle answers it: the function is not in
``external_functions`` (dml_missing_record_exception), whatever the service says.

* ``core_grades_get_gradeitems`` arrived in 4.2 (grade/classes/external/get_gradeitems.php, 2023).
* ``mod_quiz_get_user_quiz_attempts`` arrived in 5.0 with the "not started" and "submitted" attempt
  states (MDL-68806, mod/quiz/UPGRADING.md "5.0 / Deprecated"); the 4.5 build the fixtures were
  recorded on (20241007) has only ``mod_quiz_get_user_attempts``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MoodleRelease:
    name: str
    release: str
    version: str
    #: functions of the emulator this release does not have yet
    lacks: frozenset[str]


RELEASES = {
    "4.1": MoodleRelease("4.1", "4.1.9 (Build: 20240212)", "2022112809",
                         frozenset({"core_grades_get_gradeitems", "mod_quiz_get_user_quiz_attempts"})),
    "4.5": MoodleRelease("4.5", "4.5 (Build: 20241007)", "2024100700",
                         frozenset({"mod_quiz_get_user_quiz_attempts"})),
    "5.0": MoodleRelease("5.0", "5.0 (Build: 20250414)", "2025041400", frozenset()),
}
DEFAULT_RELEASE = "4.5"


def release(name: str) -> MoodleRelease:
    try:
        return RELEASES[name]
    except KeyError:
        raise ValueError(f"unknown Moodle release {name!r}; the emulator stands in for "
                         f"{', '.join(sorted(RELEASES))}") from None
