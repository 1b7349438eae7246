"""The generated Python bindings against a real casebook-server over TLS, briefly: a guardian's
phone enrols, records a visit offline and syncs; a second sync is a no-op; a wrong certificate
pin is UntrustedServer and a wrong enrolment code is InvalidInput naming it; a second device
enrolled for a user is announced to the first one's listener at its next sync; a sync's change
events name the case and kind of each document it changed. Run by
tests/bindings/main.rs, which starts the server and passes its address, certificate pin and
six enrolment codes in the environment.
"""

import asyncio
import datetime
import os
import tempfile
import unittest

from casebook_mobile import (
    AgeStatus, Casebook, CasebookError, CancelToken, ChangeListener, ChangeSource, DocKind, Immigration, ImmigrationOutcome,
    Interpreter, InterpreterMode, LegalBasis, Nrm, NrmDecision, Profile, Review, ReviewStatus,
    VettingStatus, VisitNote,
)

URL = os.environ["CASEBOOK_URL"]
PIN = os.environ["CASEBOOK_PIN"]


class Recorder(ChangeListener):
    def __init__(self):
        self.events = []

    def on_change(self, event):
        self.events.append(event)


class DayTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def open(self, name):
        return Casebook.open(os.path.join(self.dir.name, name + ".db"), os.urandom(32))

    def test_enrol_record_offline_and_sync(self):
        book = self.open("guardian")
        info = asyncio.run(book.enrol(URL, os.environ["CASEBOOK_CODE_1"], PIN, "python phone"))
        self.assertEqual(info.role, "guardian")
        case_id = book.create_case(Profile(
            case_reference="PY-1", given_name="Amina", age_status=AgeStatus.CLAIMED,
            legal_basis=LegalBasis.SECTION20,
            nrm=Nrm(reasonable_grounds=NrmDecision.PENDING, conclusive_grounds=NrmDecision.PENDING),
            immigration=Immigration(outcome=ImmigrationOutcome.NOT_RECORDED),
        ))
        book.add_visit_note(case_id, VisitNote(
            visited_at=datetime.datetime.now(datetime.timezone.utc), place="police station",
            attendees=["guardian"],
            interpreter=Interpreter(mode=InterpreterMode.VIDEO, name="Mai", agency="A",
                                    language="Vietnamese", vetting=VettingStatus.VETTED,
                                    child_consented=True),
            wishes_and_feelings="I am tired.", observations="", actions={},
            review=Review(status=ReviewStatus.DRAFT, reviewer=None, reviewed_at=None, comment=""),
        ))
        report = asyncio.run(book.sync_now(None, CancelToken()))
        self.assertGreaterEqual(report.docs_pushed, 5)
        again = asyncio.run(book.sync_now(None, None))
        self.assertEqual(again.docs_pushed, 0)
        self.assertEqual(again.rounds, 1)
        self.assertEqual(book.held_kinds(case_id), [DocKind.PROFILE, DocKind.LOCATION,
                                                    DocKind.VISITS, DocKind.SAFETY,
                                                    DocKind.ASSOCIATES])

    def test_a_second_device_is_announced_to_the_first(self):
        first = self.open("twin-1")
        asyncio.run(first.enrol(URL, os.environ["CASEBOOK_CODE_3"], PIN, "work phone"))
        self.assertEqual(asyncio.run(first.sync_now(None, None)).notices, [])
        recorder = Recorder()
        handle = first.observe(recorder)
        second = self.open("twin-2")
        info = asyncio.run(second.enrol(URL, os.environ["CASEBOOK_CODE_4"], PIN, "unknown phone"))
        report = asyncio.run(first.sync_now(None, None))
        self.assertEqual([n.device_id for n in report.notices], [info.device_id])
        notices = [e.notice for e in recorder.events if e.source == ChangeSource.NOTICE]
        self.assertEqual(len(notices), 1)
        self.assertEqual(notices[0].kind, "device_enrolled")
        self.assertEqual(notices[0].device_id, info.device_id)
        self.assertEqual(notices[0].device_name, "unknown phone")
        # Delivered once; the new device itself is told nothing.
        self.assertEqual(asyncio.run(first.sync_now(None, None)).notices, [])
        self.assertEqual(asyncio.run(second.sync_now(None, None)).notices, [])
        handle.stop()

    def test_a_sync_names_the_cases_and_kinds_it_changed(self):
        # Two phones of one guardian: what one syncs, the other's listener hears by case and kind.
        first = self.open("pair-1")
        asyncio.run(first.enrol(URL, os.environ["CASEBOOK_CODE_5"], PIN, "pair phone 1"))
        second = self.open("pair-2")
        asyncio.run(second.enrol(URL, os.environ["CASEBOOK_CODE_6"], PIN, "pair phone 2"))
        asyncio.run(second.sync_now(None, None))
        case_id = first.create_case(Profile(
            case_reference="PY-PAIR-1", given_name="Hoa", age_status=AgeStatus.CLAIMED,
            legal_basis=LegalBasis.SECTION20,
            nrm=Nrm(reasonable_grounds=NrmDecision.PENDING, conclusive_grounds=NrmDecision.PENDING),
            immigration=Immigration(outcome=ImmigrationOutcome.NOT_RECORDED),
        ))
        asyncio.run(first.sync_now(None, None))
        recorder = Recorder()
        handle = second.observe(recorder)
        asyncio.run(second.sync_now(None, None))
        seen = [(e.case_id, e.kind) for e in recorder.events if e.source == ChangeSource.SYNC]
        self.assertEqual(sorted(seen, key=str), sorted(
            [(case_id, k) for k in (DocKind.PROFILE, DocKind.LOCATION, DocKind.VISITS,
                                    DocKind.SAFETY, DocKind.ASSOCIATES)], key=str))
        # A visit note changes the visits document only.
        first.add_visit_note(case_id, VisitNote(
            visited_at=datetime.datetime.now(datetime.timezone.utc), place="school",
            attendees=[], interpreter=Interpreter(mode=InterpreterMode.NONE, name="", agency="",
                                                  language="", vetting=VettingStatus.NOT_CHECKED,
                                                  child_consented=None),
            wishes_and_feelings="", observations="", actions={},
            review=Review(status=ReviewStatus.DRAFT, reviewer=None, reviewed_at=None, comment=""),
        ))
        asyncio.run(first.sync_now(None, None))
        recorder.events.clear()
        asyncio.run(second.sync_now(None, None))
        self.assertEqual([(e.source, e.case_id, e.kind) for e in recorder.events],
                         [(ChangeSource.SYNC, case_id, DocKind.VISITS)])
        # Nothing new: no event.
        recorder.events.clear()
        asyncio.run(second.sync_now(None, None))
        self.assertEqual(recorder.events, [])
        handle.stop()

    def test_a_wrong_pin_is_refused(self):
        book = self.open("other")
        with self.assertRaises(CasebookError.UntrustedServer):
            asyncio.run(book.enrol(URL, os.environ["CASEBOOK_CODE_2"], "ab" * 32, "x"))
        self.assertFalse(book.is_enrolled())

    def test_a_wrong_enrolment_code_names_the_code(self):
        book = self.open("stranger")
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            asyncio.run(book.enrol(URL, "NOT-A-REAL-CODE", PIN, "x"))
        self.assertEqual(raised.exception.field, "enrolment_code")
        self.assertFalse(book.is_enrolled())


if __name__ == "__main__":
    unittest.main()
