"""The generated Python bindings, briefly: the same surface as the Kotlin suite.

Run by tests/tests/bindings/main.rs with the generated `casebook_mobile.py` and the cdylib
in one directory on PYTHONPATH.
"""

import asyncio
import datetime
import os
import tempfile
import unittest

from casebook_mobile import (
    AgeStatus, Casebook, CasebookError, CancelToken, ChangeListener, ChangeSource,
    CheckOutcome, DeadlineKind, DocKind, EpisodeCategory, FeelSafe, Immigration, ImmigrationOutcome,
    Interpreter, InterpreterDecision, InterpreterMode, LegalBasis, LinkDecision, LinkField,
    MissingEpisode, MissingPersonProfile, Nrm, NrmDecision, NrmRoute, PanelMember,
    PersonOfConcern, PlanStep, Profile, Responsible, ReturnInterviewOutcome, Review,
    ReviewStatus, RiskFlags, SafetyCheck, StepStatus, VettingStatus, VisitNote, library_version,
    CheckStatus, ChildAgreement, StepReviewOutcome,
)

KEY = bytes(range(32))


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def profile(reference):
    return Profile(
        case_reference=reference, given_name="Amina", age_status=AgeStatus.CLAIMED,
        legal_basis=LegalBasis.CARE_ORDER,
        nrm=Nrm(reasonable_grounds=NrmDecision.PENDING, conclusive_grounds=NrmDecision.PENDING),
        immigration=Immigration(outcome=ImmigrationOutcome.NOT_RECORDED),
    )


class Recorder(ChangeListener):
    def __init__(self):
        self.events = []

    def on_change(self, event):
        self.events.append(event)


class BindingsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "store.db")
        self.book = Casebook.open(self.path, KEY)
        self.case = self.book.create_case(profile("BRI-9"))

    def tearDown(self):
        self.book.close_store()
        self.dir.cleanup()

    def test_version(self):
        self.assertTrue(library_version())

    def test_offline_day(self):
        note = self.book.add_visit_note(self.case, VisitNote(
            visited_at=now(), place="home",
            interpreter=Interpreter(mode=InterpreterMode.TELEPHONE, language="Tigrinya",
                                    vetting=VettingStatus.VETTED, child_consented=True),
            wishes_and_feelings="I like my school.", review=Review(status=ReviewStatus.DRAFT)))
        self.assertEqual(self.book.visit_note(self.case, note).interpreter.language, "Tigrinya")
        long_text = "She talked about school. " * 20
        second = self.book.add_visit_note(self.case, VisitNote(
            place="park", interpreter=Interpreter(mode=InterpreterMode.NONE, vetting=VettingStatus.NOT_CHECKED),
            observations=long_text, review=Review(status=ReviewStatus.SUBMITTED)))
        summaries = {s.id: s for s in self.book.visit_note_summaries(self.case)}
        self.assertEqual(set(summaries), {note, second})
        self.assertTrue(summaries[note].interpreter)
        self.assertEqual(summaries[note].excerpt, "I like my school.")
        self.assertFalse(summaries[second].interpreter)
        self.assertEqual(summaries[second].status, ReviewStatus.SUBMITTED)
        self.assertEqual(summaries[second].excerpt, long_text[:200])
        self.assertIsNotNone(summaries[second].author)
        self.assertEqual(summaries[second].version,
                         self.book.visit_note(self.case, second).version)
        step = self.book.add_plan_step(self.case, PlanStep(
            description="Curfew 9pm", responsible=Responsible.CARERS, status=StepStatus.ACTIVE))
        self.book.log_safety_check(self.case, SafetyCheck(
            checked_at=now(), step=step, outcome=CheckOutcome.CONCERN, note="Late home"))
        self.assertEqual(len(self.book.safety_checks(self.case)), 1)
        episode = self.book.start_missing_episode(
            self.case, MissingEpisode(category=EpisodeCategory.MISSING,
                                      missing_since=now() - datetime.timedelta(hours=3),
                                      return_interview_outcome=ReturnInterviewOutcome.NOT_YET))
        self.book.end_missing_episode(self.case, episode, now())
        self.assertFalse(self.book.missing_episodes(self.case)[0].is_open)
        self.assertEqual([c.reference for c in self.book.list_cases()], ["BRI-9"])
        self.assertEqual(self.book.conflicts(self.case), [])

    def test_missing_episodes_flags_and_the_return_interview_due(self):
        hours = lambda h: datetime.timedelta(hours=h)
        placed = now().replace(microsecond=0) - datetime.timedelta(days=10)
        self.book.set_placement_started_at(self.case, placed)
        self.assertEqual(self.book.placement_started_at(self.case), placed)
        self.book.add_plan_step(self.case, PlanStep(
            description="24-hour supervision outside the home, first 8 weeks",
            responsible=Responsible.CARERS, status=StepStatus.ACTIVE,
            supervision_until=placed + datetime.timedelta(weeks=8)))

        def episode(since, **fields):
            return MissingEpisode(category=EpisodeCategory.MISSING, missing_since=since,
                                  return_interview_outcome=ReturnInterviewOutcome.NOT_YET,
                                  **fields)

        first = self.book.start_missing_episode(self.case, episode(
            placed + hours(30), last_seen_at=placed + hours(29), last_seen="Bus station",
            last_seen_with="A man in a grey car", clothing="Blue coat, white trainers",
            reported_to_police_at=placed + hours(30.5), police_reference="CAD 1234"))
        self.book.end_missing_episode(self.case, first, placed + hours(40))
        second = self.book.start_missing_episode(self.case, episode(
            placed + datetime.timedelta(days=4),
            returned_at=placed + datetime.timedelta(days=4, hours=2)))
        third = self.book.start_missing_episode(self.case, MissingEpisode(
            category=EpisodeCategory.AWAY_FROM_PLACEMENT,
            missing_since=placed + datetime.timedelta(days=9),
            return_interview_outcome=ReturnInterviewOutcome.NOT_YET))

        status = {s.id: s for s in self.book.missing_episode_status(self.case, now())}
        self.assertEqual(status[first].flags, RiskFlags(
            first_48_hours=True, during_supervision=True, repeat=False))
        self.assertEqual(status[second].flags, RiskFlags(
            first_48_hours=False, during_supervision=True, repeat=False))
        self.assertTrue(status[third].flags.repeat)
        self.assertEqual(status[third].absences_in_90_days, 3)
        self.assertTrue(status[third].is_open)
        self.assertIsNone(status[third].return_interview_due)
        due = placed + hours(40 + 72)
        self.assertEqual(status[first].return_interview_due, due)
        self.assertTrue(status[first].return_interview_overdue)
        self.assertRegex(status[first].return_interview_due_london, r" (GMT|BST)$")

        episodes = {e.id: e for e in self.book.missing_episodes(self.case)}
        self.assertEqual(episodes[first].return_interview_due, due)
        self.assertEqual(episodes[first].episode.clothing, "Blue coat, white trainers")
        self.assertEqual(episodes[third].episode.category, EpisodeCategory.AWAY_FROM_PLACEMENT)
        held = episodes[first].episode
        held.return_interview_outcome = ReturnInterviewOutcome.DONE
        held.return_interview_done_at = placed + hours(60)
        held.return_interview = "Said she was taken to a car wash"
        self.book.update_missing_episode(self.case, first, held)
        status = {s.id: s for s in self.book.missing_episode_status(self.case, now())}
        self.assertFalse(status[first].return_interview_overdue)

        # Clearly wrong input names the field and writes nothing.
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.start_missing_episode(self.case, episode(
                placed + hours(5), returned_at=placed + hours(4)))
        self.assertEqual(raised.exception.field, "returned_at")
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.start_missing_episode(self.case, episode(now() + hours(2)))
        self.assertEqual(raised.exception.field, "missing_since")
        self.assertEqual(len(self.book.missing_episodes(self.case)), 3)
    def test_profile_photo_set_replaced_removed_and_bad_images_refused(self):
        def png(filler):
            return (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR"
                    + b"\x00\x00\x00\x02\x00\x00\x00\x01\x08\x06\x00\x00\x00"
                    + b"\x00\x00\x00\x00" + filler)
        self.assertIsNone(self.book.profile_photo(self.case))
        first = png(b"first photo")
        self.book.set_profile_photo(self.case, first)
        self.assertEqual(self.book.profile_photo(self.case), first)
        second = png(b"second photo")
        self.book.set_profile_photo(self.case, second)
        self.assertEqual(self.book.profile_photo(self.case), second)
        for bad in [b"%PDF-1.7", png(b"x" * (5 * 1024 * 1024))]:
            with self.assertRaises(CasebookError.InvalidInput) as raised:
                self.book.set_profile_photo(self.case, bad)
            self.assertEqual(raised.exception.field, "photo")
        self.assertEqual(self.book.profile_photo(self.case), second)
        self.book.remove_profile_photo(self.case)
        self.assertIsNone(self.book.profile_photo(self.case))

    def test_typed_errors(self):
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.profile("nope")
        self.assertEqual(raised.exception.field, "case_id")
        self.book.close_store()
        with self.assertRaises(CasebookError.WrongKey):
            Casebook.open(self.path, bytes(32))
        self.book = Casebook.open(self.path, KEY)

    def test_alerts_start_empty_and_an_unknown_one_cannot_be_acknowledged(self):
        self.assertEqual(self.book.alerts(), [])
        with self.assertRaises(CasebookError.InvalidInput) as bad_id:
            self.book.acknowledge_alert("not-an-id")
        self.assertEqual(bad_id.exception.field, "alert_id")
        with self.assertRaises(CasebookError.InvalidInput) as unknown:
            self.book.acknowledge_alert("ab" * 16)
        self.assertEqual(unknown.exception.field, "alert")
        self.assertEqual(self.book.alerts(), [])

    def test_panic_is_internal_and_store_stays_usable(self):
        with self.assertRaises(CasebookError.Internal):
            self.book.debug_panic()
        self.assertEqual(len(self.book.list_cases()), 1)
        self.book.set_feel_safe(self.case, FeelSafe(text="music"))
        self.assertEqual(self.book.feel_safe(self.case).text, "music")

    def test_observe_and_stop(self):
        recorder = Recorder()
        handle = self.book.observe(recorder)
        self.book.set_feel_safe(self.case, FeelSafe(text="a"))
        handle.stop()
        self.book.set_feel_safe(self.case, FeelSafe(text="b"))
        self.assertEqual(len(recorder.events), 1)
        self.assertEqual(recorder.events[0].source, ChangeSource.LOCAL)
        self.assertEqual(recorder.events[0].kind, DocKind.SAFETY)

    def test_records_print_their_fields_as_kotlin_data_classes_do(self):
        p = profile("BRI-10")
        # Kotlin: Profile(caseReference=BRI-10, givenName=Amina, ...); Python, snake_case.
        text = repr(p)
        self.assertTrue(text.startswith("Profile(case_reference=BRI-10, given_name=Amina, "), text)
        self.assertIn("nrm=Nrm(referred_on=None", text)
        self.assertEqual(text, str(p))
        # A record read back from the store prints its fields too, free text included (as
        # Kotlin's toString does: a repr is for a developer's console, never for logs).
        self.book.set_feel_safe(self.case, FeelSafe(text="music and my brother"))
        self.assertIn("music and my brother", repr(self.book.feel_safe(self.case)))
        self.assertIn("reference=BRI-9", repr(self.book.list_cases()))
        # Every record class of the module prints its fields.
        import dataclasses
        import casebook_mobile
        records = [c for c in vars(casebook_mobile).values()
                   if isinstance(c, type) and dataclasses.is_dataclass(c)]
        self.assertGreater(len(records), 20)
        for cls in records:
            self.assertIs(cls.__repr__, cls.__str__, cls.__name__)

    def test_a_date_of_birth_in_the_future_or_too_long_ago_is_refused(self):
        future = (now() + datetime.timedelta(days=2)).date().isoformat()
        too_old = (now() - datetime.timedelta(days=366 * 26)).date().isoformat()
        for born in (future, too_old):
            p = profile("BRI-11")
            p.date_of_birth = born
            with self.assertRaises(CasebookError.InvalidInput) as raised:
                self.book.create_case(p)
            self.assertEqual(raised.exception.field, "date_of_birth")
            saved = self.book.profile(self.case)
            saved.date_of_birth = born
            with self.assertRaises(CasebookError.InvalidInput) as raised:
                self.book.set_profile(self.case, saved)
            self.assertEqual(raised.exception.field, "date_of_birth")
        self.assertEqual([c.reference for c in self.book.list_cases()], ["BRI-9"])
        # An adult by assessment may be older; a plausible child's date is kept.
        saved = self.book.profile(self.case)
        saved.date_of_birth = "2012-03-04"
        self.book.set_profile(self.case, saved)
        self.assertEqual(self.book.profile(self.case).date_of_birth, "2012-03-04")

    def test_protection_plan_template_review_and_overdue_checks(self):
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.apply_plan_template(self.case, 8)
        self.assertEqual(raised.exception.field, "placement_started_at")
        placed = now().replace(microsecond=0) - datetime.timedelta(days=3)
        self.book.set_placement_started_at(self.case, placed)
        for weeks in (7, 13):
            with self.assertRaises(CasebookError.InvalidInput) as raised:
                self.book.apply_plan_template(self.case, weeks)
            self.assertEqual(raised.exception.field, "supervision_weeks")
        self.assertEqual(self.book.plan_steps(self.case), [])
        ids = self.book.apply_plan_template(self.case, 10)
        self.assertEqual(len(ids), 5)
        steps = {e.id: e for e in self.book.plan_steps(self.case)}
        self.assertEqual(set(steps), set(ids))
        self.assertEqual(sum(e.review_needed for e in steps.values()), 4)
        supervision = [e for e in steps.values() if e.step.supervision_until is not None]
        self.assertEqual(supervision[0].step.supervision_until,
                         placed + datetime.timedelta(weeks=10))
        self.assertTrue(all(e.step.child_agreed == ChildAgreement.NOT_ASKED
                            for e in steps.values()))
        room = [e for e in steps.values() if e.step.check_daily_at is not None][0]
        self.assertEqual(room.step.check_daily_at, "22:00")

        # An unenrolled device has no role: the review is recorded under its user.
        phone = ids[0]
        self.book.review_plan_step(self.case, phone, StepReviewOutcome.APPROVED)
        reviewed = [e for e in self.book.plan_steps(self.case) if e.id == phone][0]
        self.assertFalse(reviewed.review_needed)
        self.assertEqual(reviewed.step.review_outcome, StepReviewOutcome.APPROVED)
        self.assertIsNotNone(reviewed.step.reviewed_by)
        number = [e for e in steps.values() if not e.step.restricts][0]
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.review_plan_step(self.case, number.id, StepReviewOutcome.APPROVED)
        self.assertEqual(raised.exception.field, "step")

        # A step checked hourly from three hours ago, never logged: overdue among the deadlines.
        step = self.book.add_plan_step(self.case, PlanStep(
            description="Phone handed in", responsible=Responsible.CARERS,
            status=StepStatus.ACTIVE, check_every_hours=1,
            checks_from=now() - datetime.timedelta(hours=3)))
        overdue = [d for d in self.book.deadlines(self.case, now())
                   if d.kind == DeadlineKind.SAFETY_CHECK]
        self.assertEqual([(d.record, d.overdue) for d in overdue],
                         [("plan_steps/" + step, True)])
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.log_safety_check(self.case, SafetyCheck(
                checked_at=now(), step=step, outcome=CheckOutcome.OK,
                status=CheckStatus.NOT_POSSIBLE))
        self.assertEqual(raised.exception.field, "not_possible_reason")
        self.book.log_safety_check(self.case, SafetyCheck(
            checked_at=now(), step=step, outcome=CheckOutcome.OK,
            status=CheckStatus.NOT_POSSIBLE, not_possible_reason="At the dentist with staff"))
        self.assertEqual([d for d in self.book.deadlines(self.case, now())
                          if d.kind == DeadlineKind.SAFETY_CHECK], [])
        [logged] = self.book.safety_checks(self.case)
        self.assertEqual(logged.check.status, CheckStatus.NOT_POSSIBLE)

    def test_nrm_panel_decisions_are_checked_and_deadlines_listed(self):
        nrm = self.book.nrm(self.case)
        self.assertTrue(nrm.version)
        nrm.referred_on = "2026-11-02"
        nrm.referred_by = "Bristol children's social care"
        nrm.route = NrmRoute.LOCAL_PANEL
        nrm.reasonable_grounds = NrmDecision.POSITIVE
        nrm.reasonable_grounds_on = "2026-11-06"
        nrm.reasonable_grounds_reasons = "Indicators of labour exploitation"
        nrm.reasonable_grounds_recorded_by = "Panel chair"
        nrm.reasonable_grounds_panel = [
            PanelMember(name="A. Worker", agency="social_care"),
            PanelMember(name="B. Officer", agency="police"),
        ]
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.set_nrm(self.case, nrm)
        self.assertEqual(raised.exception.field, "nrm.reasonable_grounds_panel")
        self.assertTrue(raised.exception.reason.endswith("missing: health"))
        self.assertEqual(self.book.nrm(self.case).route, NrmRoute.NOT_RECORDED)
        nrm.reasonable_grounds_panel.append(PanelMember(name="C. Nurse", agency="nursing"))
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.set_nrm(self.case, nrm)
        self.assertEqual(raised.exception.field, "nrm.reasonable_grounds_panel.agency")
        nrm.reasonable_grounds_panel[-1] = PanelMember(name="C. Nurse", agency="health")
        nrm.conclusive_grounds = NrmDecision.POSITIVE
        nrm.conclusive_grounds_on = "2026-11-05"
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.set_nrm(self.case, nrm)
        self.assertEqual(raised.exception.field, "nrm.conclusive_grounds_on")
        nrm.conclusive_grounds = NrmDecision.PENDING
        nrm.conclusive_grounds_on = None
        self.book.set_nrm(self.case, nrm)
        saved = self.book.nrm(self.case)
        self.assertEqual(saved.reasonable_grounds_panel, nrm.reasonable_grounds_panel)
        self.assertEqual(saved.route, NrmRoute.LOCAL_PANEL)
        # A profile save from a read keeps the decision; its plan date joins the list.
        p = self.book.profile(self.case)
        p.plans.care_plan = "2026-11-25"
        self.book.set_profile(self.case, p)
        self.assertEqual(self.book.nrm(self.case).reasonable_grounds_panel,
                         nrm.reasonable_grounds_panel)
        at = datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.timezone.utc)
        listed = [(d.kind, d.due_on, d.overdue, d.record)
                  for d in self.book.deadlines(self.case, at)]
        self.assertEqual(listed, [
            (DeadlineKind.CARE_PLAN_REVIEW, "2026-11-25", True, "plans/care_plan"),
            (DeadlineKind.CONCLUSIVE_GROUNDS_FROM, "2026-12-06", False, "nrm"),
        ])
        # A referral on 23 December 2025, still pending: 5 working days skip Christmas,
        # Boxing Day and New Year's Day.
        other = self.book.create_case(profile("BRI-12"))
        n = self.book.nrm(other)
        n.referred_on = "2025-12-23"
        n.route = NrmRoute.HOME_OFFICE
        self.book.set_nrm(other, n)
        at = datetime.datetime(2026, 1, 5, 9, tzinfo=datetime.timezone.utc)
        (rg,) = self.book.deadlines(other, at)
        self.assertEqual((rg.kind, rg.due_on, rg.overdue, rg.doc),
                         (DeadlineKind.REASONABLE_GROUNDS, "2026-01-02", True, DocKind.PROFILE))

    def test_a_device_name_with_a_bidirectional_override_is_refused_before_enrolling(self):
        # No server listens here: the device refuses the name before it sends anything.
        for name in ("phone\u202e", "phone\u2066x\u2069", "phone\n2"):
            with self.assertRaises(CasebookError.InvalidInput) as raised:
                asyncio.run(self.book.enrol("https://127.0.0.1:9", "ABCD-EFGH", "ab" * 32, name))
            self.assertEqual(raised.exception.field, "device_name")
        self.assertFalse(self.book.is_enrolled())

    def test_missing_person_profile_sharing_and_the_police_pack(self):
        profile = self.book.missing_person_profile(self.case)
        self.assertEqual(profile.name, "")
        profile.name = "Nguyễn Thị Hương"
        profile.languages = ["Vietnamese"]
        profile.interpreter_needed = True
        profile.date_of_birth = "2010-04-02"
        self.book.set_missing_person_profile(self.case, profile)
        saved = self.book.missing_person_profile(self.case)
        self.assertEqual(saved.name, "Nguyễn Thị Hương")
        self.assertTrue(saved.interpreter_needed)
        saved.date_of_birth = "2-4-2010"
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.set_missing_person_profile(self.case, saved)
        self.assertEqual(raised.exception.field, "date_of_birth")

        person = self.book.add_person(self.case, PersonOfConcern(
            name="Ëndrit Hoxha", phone_numbers=["07700 900123"], notes="CANARY notes"))
        self.book.share_person_into_profile(self.case, person)
        shared = self.book.shared_persons(self.case)
        self.assertEqual([p.person_id for p in shared], [person])
        self.assertEqual(shared[0].phone_numbers, ["07700 900123"])
        self.assertIsNotNone(shared[0].shared_at)

        pdf = self.book.police_pack_pdf(self.case, None)
        self.assertTrue(pdf.startswith(b"%PDF-"))
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.police_pack_pdf(self.case, "00" * 16)
        self.assertEqual(raised.exception.field, "episode_id")

        self.book.unshare_person_from_profile(self.case, person)
        self.assertEqual(self.book.shared_persons(self.case), [])
        with self.assertRaises(CasebookError.InvalidInput):
            self.book.unshare_person_from_profile(self.case, person)

    def test_interpreter_link_check_warns_offline_and_needs_a_decision(self):
        self.book.add_person(self.case, PersonOfConcern(
            name="Nguyễn Văn Hùng", phone_numbers=["+44 7700 900123"]))
        hung = Interpreter(mode=InterpreterMode.IN_PERSON, name="Hung Nguyen",
                           phone="0044 7700-900-123", vetting=VettingStatus.NOT_CHECKED)
        links = self.book.interpreter_links(self.case, hung)
        self.assertEqual([l.field for l in links], [LinkField.NAME, LinkField.PHONE])
        self.assertEqual(links[0].matched, "Nguyễn Văn Hùng")
        mai = Interpreter(mode=InterpreterMode.IN_PERSON, name="Mai Tran", phone="07700 900456",
                          vetting=VettingStatus.NOT_CHECKED)
        self.assertEqual(self.book.interpreter_links(self.case, mai), [])
        note = VisitNote(interpreter=hung, review=Review(status=ReviewStatus.DRAFT))
        with self.assertRaises(CasebookError.InvalidInput) as raised:
            self.book.add_visit_note(self.case, note)
        self.assertEqual(raised.exception.field, "interpreter_decision")
        note.interpreter_decision = InterpreterDecision(outcome=LinkDecision.OTHER_INTERPRETER)
        with self.assertRaises(CasebookError.InvalidInput):
            self.book.add_visit_note(self.case, note)
        note.interpreter_decision = InterpreterDecision(
            outcome=LinkDecision.PROCEED, reason="the agency confirmed another person")
        note_id = self.book.add_visit_note(self.case, note)
        saved = self.book.visit_note(self.case, note_id)
        self.assertEqual(saved.interpreter.phone, "0044 7700-900-123")
        self.assertEqual(saved.interpreter_decision.outcome, LinkDecision.PROCEED)
        self.assertEqual(saved.interpreter_decision.interpreter_name, "Hung Nguyen")
        self.assertIsNotNone(saved.interpreter_decision.decided_at)
        self.assertIsNotNone(saved.interpreter_decision.decided_by)
        # Saved again unchanged: the decision still covers the interpreter.
        saved.observations = "Went well."
        self.book.update_visit_note(self.case, note_id, saved)
        self.book.add_visit_note(self.case, VisitNote(
            interpreter=mai, review=Review(status=ReviewStatus.DRAFT)))

    def test_async_sync_needs_enrolment(self):
        with self.assertRaises(CasebookError.NotEnrolled):
            asyncio.run(self.book.sync_now(None, CancelToken()))


if __name__ == "__main__":
    unittest.main(verbosity=2)
