"""The write rules on the device, through the generated Python bindings against a real server:
a carer's phone refuses to change the guardian's plan step (Forbidden, naming the record, and
nothing written), and logs a safety check as usual. Run by tests/bindings/main.rs, which starts
the server, opens a case with one plan step on a guardian's device, links the carer, and passes
the address, certificate pin, the carer's enrolment code and the case id in the environment.
"""

import asyncio
import os
import tempfile
import unittest

from casebook_mobile import (
    Casebook, CasebookError, CheckOutcome, CheckStatus, DocKind, PlanStep, Responsible,
    SafetyCheck, StepReviewOutcome, StepStatus,
)

URL = os.environ["CASEBOOK_URL"]
PIN = os.environ["CASEBOOK_PIN"]


class WriteRulesTest(unittest.TestCase):
    def test_a_carer_cannot_change_the_plan_but_logs_checks(self):
        with tempfile.TemporaryDirectory() as tmp:
            book = Casebook.open(os.path.join(tmp, "carer.db"), os.urandom(32))
            info = asyncio.run(book.enrol(URL, os.environ["CASEBOOK_CODE_CARER"], PIN, "carer"))
            self.assertEqual(info.role, "carer")
            asyncio.run(book.sync_now(None, None))
            case_id = os.environ["CASEBOOK_CASE"]
            self.assertEqual(book.held_kinds(case_id), [DocKind.SAFETY])
            [entry] = book.plan_steps(case_id)
            step = entry.step
            step.description = "no supervision"
            step.status = StepStatus.RETIRED
            with self.assertRaises(CasebookError.Forbidden) as raised:
                book.update_plan_step(case_id, entry.id, step)
            self.assertIn("plan step " + entry.id, str(raised.exception))
            [unchanged] = book.plan_steps(case_id)
            self.assertEqual(unchanged.step.status, StepStatus.ACTIVE)
            self.assertEqual(unchanged.step.responsible, Responsible.CARERS)
            with self.assertRaises(CasebookError.Forbidden):
                book.add_plan_step(case_id, PlanStep(
                    description="x", responsible=Responsible.CARERS, status=StepStatus.ACTIVE))
            self.assertEqual(len(book.plan_steps(case_id)), 1)
            # The step restricts the child; only a supervisor reviews it.
            self.assertTrue(entry.review_needed)
            with self.assertRaises(CasebookError.Forbidden) as raised:
                book.review_plan_step(case_id, entry.id, StepReviewOutcome.APPROVED)
            self.assertIn("plan step " + entry.id, str(raised.exception))
            [still] = book.plan_steps(case_id)
            self.assertIsNone(still.step.review_outcome)
            self.assertTrue(still.review_needed)
            with self.assertRaises(CasebookError.InvalidInput) as raised:
                book.log_safety_check(case_id, SafetyCheck(
                    step=entry.id, outcome=CheckOutcome.OK, status=CheckStatus.NOT_POSSIBLE))
            self.assertEqual(raised.exception.field, "not_possible_reason")

            book.log_safety_check(case_id, SafetyCheck(
                step=entry.id, outcome=CheckOutcome.OK, note="home by nine"))
            report = asyncio.run(book.sync_now(None, None))
            self.assertEqual(report.rejected, [])
            self.assertEqual(len(book.safety_checks(case_id)), 1)
            book.close_store()


if __name__ == "__main__":
    unittest.main()
