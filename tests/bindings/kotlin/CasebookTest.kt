// The offline day of a guardian's phone, through the generated Kotlin bindings on the JVM.
// Run by tests/tests/bindings/main.rs (`cargo test --workspace`); prints "N passed, N failed"
// and exits non-zero on any failure.

import java.nio.file.Files
import java.time.Instant
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.runBlocking
import org.casebook.mobile.*

private val key = ByteArray(32) { (it * 7 + 3).toByte() }

private fun profile(reference: String) = Profile(
    caseReference = reference,
    givenName = "Linh",
    familyName = "Tran",
    languages = listOf("Vietnamese (northern)"),
    ageStatus = AgeStatus.DISPUTED_TREAT_AS_CHILD,
    legalBasis = LegalBasis.SECTION20,
    trafficked = true,
    nrm = Nrm(reasonableGrounds = NrmDecision.POSITIVE, conclusiveGrounds = NrmDecision.PENDING),
    immigration = Immigration(outcome = ImmigrationOutcome.PENDING, asylumClaimed = true),
)

private class Recorder : ChangeListener {
    val count = AtomicInteger()
    @Volatile var last: ChangeEvent? = null
    override fun onChange(event: ChangeEvent) {
        last = event
        count.incrementAndGet()
    }
}

fun main() {
    val dir = Files.createTempDirectory("casebook-kotlin")
    val path = dir.resolve("store.db").toString()

    test("library version crosses the C ABI") {
        check(libraryVersion().isNotEmpty()) { "empty version" }
    }

    var book = Casebook.open(path, key)
    lateinit var caseId: String

    test("create a case and list it") {
        caseId = book.createCase(profile("HUL-1"))
        val cases = book.listCases()
        check(cases.size == 1) { "cases: $cases" }
        check(cases[0].reference == "HUL-1" && cases[0].displayName == "Linh Tran") { "${cases[0]}" }
        check(book.profile(caseId).ageStatus == AgeStatus.DISPUTED_TREAT_AS_CHILD) { "profile" }
        check(book.heldKinds(caseId).size == 5) { "held kinds" }
        check(!book.isEnrolled() && book.deviceInfo() == null) { "not enrolled yet" }
    }

    test("record an interpreter-assisted visit, an action and a sign-off") {
        val noteId = book.addVisitNote(caseId, VisitNote(
            visitedAt = Instant.now(),
            place = "school, quiet room",
            attendees = listOf("guardian", "interpreter"),
            interpreter = Interpreter(
                mode = InterpreterMode.IN_PERSON,
                name = "Mai",
                agency = "Vetted Languages Ltd",
                language = "Vietnamese (northern)",
                vetting = VettingStatus.VETTED,
                childConsented = true,
            ),
            wishesAndFeelings = "I want to stay at this school.",
            observations = "Settled, smiled when talking about football.",
            review = Review(status = ReviewStatus.SUBMITTED),
        ))
        val actionId = book.addAction(caseId, noteId, Action(description = "Ask about football club", owner = "guardian", dueOn = "2026-03-01"))
        // A sign-off needs an enrolled reviewer to record: refused on this device, not yet enrolled.
        expectThrows<CasebookException.NotEnrolled> {
            book.reviewVisitNote(caseId, noteId, ReviewStatus.SIGNED_OFF, "Good note")
        }
        val note = book.visitNote(caseId, noteId)
        check(note.interpreter.vetting == VettingStatus.VETTED && note.interpreter.childConsented == true) { "${note.interpreter}" }
        check(note.actions[actionId]?.dueOn == "2026-03-01") { "${note.actions}" }
        check(note.review.status == ReviewStatus.SUBMITTED && note.review.reviewer == null) { "${note.review}" }
        check(book.visitNotes(caseId).single().id == noteId) { "notes" }
        val summary = book.visitNoteSummaries(caseId).single()
        check(summary.id == noteId && summary.interpreter && summary.interpreterMode == InterpreterMode.IN_PERSON) { "$summary" }
        check(summary.status == ReviewStatus.SUBMITTED && summary.actions == 1u && summary.actionsDone == 0u) { "$summary" }
        check(summary.excerpt == "Settled, smiled when talking about football." && summary.version == note.version) { "$summary" }
    }

    test("a bad date is InvalidInput naming the field") {
        val e = expectThrows<CasebookException.InvalidInput> {
            book.addAction(caseId, "0".repeat(32), Action(description = "x", dueOn = "tomorrow"))
        }
        check(e.field == "due_on") { "field ${e.field}" }
        val short = expectThrows<CasebookException.InvalidInput> {
            book.addAction(caseId, "0".repeat(32), Action(description = "x", dueOn = "10-5-1"))
        }
        check(short.field == "due_on") { "field ${short.field}" }
    }

    test("an instant the core cannot hold is InvalidInput naming the field, not a crash") {
        val e = expectThrows<CasebookException.InvalidInput> {
            book.logSafetyCheck(caseId, SafetyCheck(checkedAt = Instant.MAX, outcome = CheckOutcome.OK))
        }
        check(e.field == "checked_at") { "field ${e.field}" }
        check(book.safetyChecks(caseId).isEmpty()) { "a refused check was stored" }
    }

    test("plan step and safety check") {
        val stepId = book.addPlanStep(caseId, PlanStep(description = "Phone checked nightly", responsible = Responsible.CARERS, status = StepStatus.ACTIVE))
        book.logSafetyCheck(caseId, SafetyCheck(checkedAt = Instant.now(), step = stepId, outcome = CheckOutcome.OK, note = "Phone checked"))
        val checks = book.safetyChecks(caseId)
        check(checks.size == 1 && checks[0].check.step == stepId) { "$checks" }
        book.setFeelSafe(caseId, FeelSafe(text = "Her carer's dog"))
        check(book.feelSafe(caseId).text == "Her carer's dog") { "feel safe" }
    }

    test("start and end a missing episode") {
        val episodeId = book.startMissingEpisode(caseId, MissingEpisode(
            category = EpisodeCategory.MISSING,
            missingSince = Instant.now().minusSeconds(7200),
            lastSeen = "bus stop, alone",
            returnInterviewOutcome = ReturnInterviewOutcome.NOT_YET,
        ))
        check(book.missingEpisodes(caseId).single().isOpen) { "should be open" }
        book.endMissingEpisode(caseId, episodeId, Instant.now())
        val episode = book.missingEpisodes(caseId).single()
        check(!episode.isOpen && episode.episode.returnedAt != null) { "$episode" }
        val e = expectThrows<CasebookException.InvalidInput> {
            book.startMissingEpisode(caseId, MissingEpisode(
                category = EpisodeCategory.MISSING,
                lastSeen = "unknown",
                returnInterviewOutcome = ReturnInterviewOutcome.NOT_YET,
            ))
        }
        check(e.field == "missing_since") { "field ${e.field}" }
    }

    test("an episode in the first 48 hours: flags, the 72-hour return interview, bad input") {
        val case = caseId // already holds the ended episode of the test before
        val before = book.missingEpisodes(case).size
        val h = 3600L
        val placed = Instant.now().minusSeconds(10 * 24 * h).truncatedTo(java.time.temporal.ChronoUnit.SECONDS)
        book.setPlacementStartedAt(case, placed)
        check(book.placementStartedAt(case) == placed) { "placement start ${book.placementStartedAt(case)}" }
        book.addPlanStep(case, PlanStep(
            description = "24-hour supervision outside the home, first 8 weeks",
            responsible = Responsible.CARERS,
            status = StepStatus.ACTIVE,
            supervisionUntil = placed.plusSeconds(56 * 24 * h),
        ))
        val id = book.startMissingEpisode(case, MissingEpisode(
            category = EpisodeCategory.MISSING,
            missingSince = placed.plusSeconds(26 * h),
            lastSeenAt = placed.plusSeconds(25 * h),
            lastSeen = "Corner shop",
            lastSeenWith = "Two older boys",
            clothing = "Grey tracksuit, black cap",
            reportedToPoliceAt = placed.plusSeconds(26 * h + 900),
            policeReference = "CAD 0211",
            socialWorkerToldAt = placed.plusSeconds(27 * h),
            socialWorkerTold = "Out-of-hours team",
            returnInterviewOutcome = ReturnInterviewOutcome.NOT_YET,
        ))
        book.endMissingEpisode(case, id, placed.plusSeconds(30 * h))
        val status = book.missingEpisodeStatus(case, Instant.now()).single { it.id == id }
        check(status.flags == RiskFlags(true, true, false)) { "$status" }
        check(status.returnInterviewDue == placed.plusSeconds(102 * h)) { "$status" }
        check(status.returnInterviewOverdue && !status.isOpen) { "$status" }
        val london = status.returnInterviewDueLondon ?: ""
        check(london.endsWith(" GMT") || london.endsWith(" BST")) { london }
        val entry = book.missingEpisodes(case).single { it.id == id }
        check(entry.returnInterviewDue == status.returnInterviewDue) { "$entry" }
        check(entry.episode.clothing == "Grey tracksuit, black cap") { "$entry" }
        val bad = expectThrows<CasebookException.InvalidInput> {
            book.startMissingEpisode(case, MissingEpisode(
                category = EpisodeCategory.AWAY_FROM_PLACEMENT,
                missingSince = placed.plusSeconds(50 * h),
                returnedAt = placed.plusSeconds(49 * h),
                returnInterviewOutcome = ReturnInterviewOutcome.NOT_YET,
            ))
        }
        check(bad.field == "returned_at") { "field ${bad.field}" }
        check(book.missingEpisodes(case).size == before + 1) { "a refused episode was stored" }
    }

    test("set, replace and remove the missing-person photo; bad images refused") {
        fun png(filler: String) = byteArrayOf(
            0x89.toByte(), 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
            0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
            0, 0, 0, 2, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0, 0, 0, 0,
        ) + filler.toByteArray()
        check(book.profilePhoto(caseId) == null) { "no photo yet" }
        val first = png("first photo")
        book.setProfilePhoto(caseId, first)
        check(book.profilePhoto(caseId)?.contentEquals(first) == true) { "first photo" }
        val second = png("second photo")
        book.setProfilePhoto(caseId, second)
        check(book.profilePhoto(caseId)?.contentEquals(second) == true) { "replaced" }
        for (bad in listOf("%PDF-1.7".toByteArray(), png("x") + ByteArray(5 * 1024 * 1024))) {
            val e = expectThrows<CasebookException.InvalidInput> { book.setProfilePhoto(caseId, bad) }
            check(e.field == "photo") { "field ${e.field}" }
        }
        check(book.profilePhoto(caseId)?.contentEquals(second) == true) { "a refused photo was stored" }
        book.removeProfilePhoto(caseId)
        check(book.profilePhoto(caseId) == null) { "removed" }
    }

    test("placement, move, person of concern") {
        book.setCurrentPlacement(caseId, Placement(placementType = PlacementType.FOSTER_CARE, address = "1 Safe St", startedOn = "2026-01-05"))
        book.movePlacement(caseId, "2026-02-01", Placement(placementType = PlacementType.SPECIALIST, address = "2 Quiet Rd"))
        check(book.currentPlacement(caseId).placementType == PlacementType.SPECIALIST) { "current" }
        check(book.placementHistory(caseId).single().placement.endedOn == "2026-02-01") { "history" }
        book.addPerson(caseId, PersonOfConcern(name = "'Uncle'", phoneNumbers = listOf("07700 900000")))
        check(book.persons(caseId).single().person.name == "'Uncle'") { "persons" }
    }

    test("no conflicts on one device") {
        check(book.conflicts(caseId).isEmpty()) { "conflicts" }
        expectThrows<CasebookException.Conflict> {
            book.resolveConflict(caseId, DocKind.PROFILE, listOf("given_name"), "\"Linh\"")
        }
    }

    test("observe changes; stopping the handle stops notifications") {
        val recorder = Recorder()
        val handle = book.observe(recorder)
        book.setFeelSafe(caseId, FeelSafe(text = "Football on Saturdays"))
        check(recorder.count.get() == 1) { "count ${recorder.count.get()}" }
        check(recorder.last?.caseId == caseId && recorder.last?.kind == DocKind.SAFETY && recorder.last?.source == ChangeSource.LOCAL) { "${recorder.last}" }
        handle.stop()
        book.setFeelSafe(caseId, FeelSafe(text = "Football and drawing"))
        check(recorder.count.get() == 1) { "notified after stop" }
        // Kotlin's AutoCloseable.close() frees the handle, which stops it too.
        val second = Recorder()
        book.observe(second).use { book.setFeelSafe(caseId, FeelSafe(text = "Drawing")) }
        book.setFeelSafe(caseId, FeelSafe(text = "Drawing and music"))
        check(second.count.get() == 1) { "closed handle still notified: ${second.count.get()}" }
    }

    test("missing-person profile, a person shared into it, the police pack as bytes") {
        val profile = book.missingPersonProfile(caseId)
        book.setMissingPersonProfile(caseId, profile.copy(
            name = "Nguyễn Thị Hương",
            languages = listOf("Vietnamese"),
            interpreterNeeded = true,
            memorisedEmergencyNumber = "07700 900999",
        ))
        val saved = book.missingPersonProfile(caseId)
        check(saved.name == "Nguyễn Thị Hương" && saved.interpreterNeeded) { "$saved" }
        val personId = book.addPerson(caseId, PersonOfConcern(
            name = "Ëndrit Hoxha", phoneNumbers = listOf("07700 900123"), notes = "not shared"))
        book.sharePersonIntoProfile(caseId, personId)
        val shared = book.sharedPersons(caseId)
        check(shared.single().personId == personId) { "$shared" }
        check(shared.single().phoneNumbers == listOf("07700 900123")) { "$shared" }
        val pdf = book.policePackPdf(caseId, null)
        check(pdf.size > 1000 && String(pdf.copyOfRange(0, 5)) == "%PDF-") { "pdf" }
        book.unsharePersonFromProfile(caseId, personId)
        check(book.sharedPersons(caseId).isEmpty()) { "unshared" }
    }

    test("NRM: a panel decision without health is refused; the case's deadline list") {
        val read = book.nrm(caseId)
        check(read.version.isNotEmpty()) { "read with a version" }
        val twoAgencies = listOf(PanelMember("A. Worker", "social_care"), PanelMember("B. Officer", "police"))
        val full = twoAgencies + PanelMember("C. Nurse", "health")
        val decided = read.copy(
            referredOn = "2026-11-02",
            referredBy = "Hull children's social care",
            route = NrmRoute.LOCAL_PANEL,
            reasonableGrounds = NrmDecision.POSITIVE,
            reasonableGroundsOn = "2026-11-06",
            reasonableGroundsReasons = "Indicators of criminal exploitation",
            reasonableGroundsRecordedBy = "Panel chair",
            reasonableGroundsPanel = twoAgencies,
        )
        val noHealth = expectThrows<CasebookException.InvalidInput> { book.setNrm(caseId, decided) }
        check(noHealth.field == "nrm.reasonable_grounds_panel" && noHealth.reason.endsWith("missing: health")) {
            "${noHealth.field}: ${noHealth.reason}"
        }
        check(book.nrm(caseId).route == NrmRoute.NOT_RECORDED) { "nothing written" }
        val unknown = expectThrows<CasebookException.InvalidInput> {
            book.setNrm(caseId, decided.copy(reasonableGroundsPanel = full + PanelMember("D. Officer", "probation")))
        }
        check(unknown.field == "nrm.reasonable_grounds_panel.agency") { unknown.field }
        val early = expectThrows<CasebookException.InvalidInput> {
            book.setNrm(caseId, decided.copy(reasonableGroundsOn = "2026-10-30", reasonableGroundsPanel = full))
        }
        check(early.field == "nrm.reasonable_grounds_on") { early.field }
        book.setNrm(caseId, decided.copy(reasonableGroundsPanel = full))
        val saved = book.nrm(caseId)
        check(saved.route == NrmRoute.LOCAL_PANEL && saved.reasonableGroundsPanel == full) { "$saved" }
        check(book.profile(caseId).nrm.reasonableGroundsPanel == full) { "the profile carries it" }
        val list = book.deadlines(caseId, Instant.parse("2026-11-30T12:00:00Z"))
        check(list.map { it.dueOn } == list.map { it.dueOn }.sorted()) { "soonest first: $list" }
        val fromProfile = list.filter { it.doc == DocKind.PROFILE }
        check(fromProfile.map { it.kind } == listOf(DeadlineKind.CONCLUSIVE_GROUNDS_FROM)) { "$list" }
        check(fromProfile[0].dueOn == "2026-12-06" && !fromProfile[0].overdue && fromProfile[0].record == "nrm") {
            "${fromProfile[0]}"
        }
    }

    test("protection plan template: restricting steps need review, an unlogged check is overdue") {
        // A book of its own, so the other tests still see one case and no plan template.
        val other = Casebook.open(dir.resolve("plan.db").toString(), key)
        val planned = other.createCase(profile("HUL-PLAN"))
        val placed = Instant.parse("2026-11-02T15:00:00Z")
        other.setPlacementStartedAt(planned, placed)
        val weeks = expectThrows<CasebookException.InvalidInput> { other.applyPlanTemplate(planned, 13u) }
        check(weeks.field == "supervision_weeks") { weeks.field }
        val ids = other.applyPlanTemplate(planned, 12u)
        val steps = other.planSteps(planned)
        check(steps.map { it.id }.toSet() == ids.toSet()) { "$steps" }
        check(steps.count { it.reviewNeeded } == 4) { "$steps" }
        val supervision = steps.single { it.step.supervisionUntil != null }
        check(supervision.step.supervisionUntil == Instant.parse("2027-01-25T15:00:00Z")) { "${supervision.step}" }
        other.reviewPlanStep(planned, supervision.id, StepReviewOutcome.CHANGES_ASKED)
        val asked = other.planSteps(planned).single { it.id == supervision.id }
        check(asked.reviewNeeded && asked.step.reviewOutcome == StepReviewOutcome.CHANGES_ASKED) { "$asked" }

        val stepId = other.addPlanStep(planned, PlanStep(
            description = "Phone handed in at night", responsible = Responsible.CARERS,
            status = StepStatus.ACTIVE, restricts = true, checkEveryHours = 4u,
            checksFrom = Instant.parse("2026-11-30T08:00:00Z")))
        val at = Instant.parse("2026-11-30T13:00:00Z")
        val overdue = other.deadlines(planned, at).filter { it.kind == DeadlineKind.SAFETY_CHECK }
        check(overdue.size == 1 && overdue[0].overdue && overdue[0].record == "plan_steps/$stepId") { "$overdue" }
        check(overdue[0].dueAt == Instant.parse("2026-11-30T12:00:00Z")) { "${overdue[0]}" }
        val noReason = expectThrows<CasebookException.InvalidInput> {
            other.logSafetyCheck(planned, SafetyCheck(
                checkedAt = Instant.parse("2026-11-30T12:30:00Z"), step = stepId,
                outcome = CheckOutcome.OK, status = CheckStatus.NOT_POSSIBLE))
        }
        check(noReason.field == "not_possible_reason") { noReason.field }
        other.logSafetyCheck(planned, SafetyCheck(
            checkedAt = Instant.parse("2026-11-30T12:30:00Z"), step = stepId, outcome = CheckOutcome.OK))
        check(other.deadlines(planned, at).none { it.kind == DeadlineKind.SAFETY_CHECK }) { "logged late" }
        other.closeStore()
    }

    test("interpreter link check: Hung Nguyen warned offline, saved only with a decision") {
        // A book of its own, so the other tests still see one case.
        val other = Casebook.open(dir.resolve("interpreter.db").toString(), key)
        val linked = other.createCase(profile("HUL-INT"))
        other.addPerson(linked, PersonOfConcern(
            name = "Nguyễn Văn Hùng", phoneNumbers = listOf("+44 7700 900123")))
        val hung = Interpreter(
            mode = InterpreterMode.IN_PERSON, name = "Hung Nguyen", phone = "07700 900123",
            language = "Vietnamese", vetting = VettingStatus.NOT_CHECKED)
        val links = other.interpreterLinks(linked, hung)
        check(links.map { it.field } == listOf(LinkField.NAME, LinkField.PHONE)) { "$links" }
        check(links.all { it.personName == "Nguyễn Văn Hùng" && it.reason.isNotEmpty() }) { "$links" }
        val mai = hung.copy(name = "Mai Tran", phone = "07700 900456")
        check(other.interpreterLinks(linked, mai).isEmpty()) { "Mai Tran warned" }
        val note = VisitNote(interpreter = hung, review = Review(status = ReviewStatus.DRAFT))
        val refused = expectThrows<CasebookException.InvalidInput> { other.addVisitNote(linked, note) }
        check(refused.field == "interpreter_decision") { "field ${refused.field}" }
        val noteId = other.addVisitNote(linked, note.copy(interpreterDecision = InterpreterDecision(
            outcome = LinkDecision.PROCEED, reason = "checked with the agency; not the same person")))
        val decision = other.visitNote(linked, noteId).interpreterDecision
        check(decision?.outcome == LinkDecision.PROCEED && decision.interpreterName == "Hung Nguyen") { "$decision" }
        check(decision?.decidedAt != null && decision.decidedBy != null) { "who and when: $decision" }
        other.addVisitNote(linked, note.copy(interpreter = mai))
        other.closeStore()
    }

    test("a Rust panic is a typed Internal exception and the store stays usable") {
        expectThrows<CasebookException.Internal> { book.debugPanic() }
        check(book.listCases().size == 1) { "list after panic" }
        book.setFeelSafe(caseId, FeelSafe(text = "Still works"))
        check(book.feelSafe(caseId).text == "Still works") { "edit after panic" }
    }

    test("typed errors: bad ids, bad key length") {
        val e = expectThrows<CasebookException.InvalidInput> { book.profile("not-a-case") }
        check(e.field == "case_id") { "field ${e.field}" }
        val k = expectThrows<CasebookException.InvalidInput> { Casebook.open(dir.resolve("other.db").toString(), ByteArray(16)) }
        check(k.field == "key") { "field ${k.field}" }
    }

    test("async calls: sync before enrolment, enrolment with a bad pin, unreachable server") {
        runBlocking {
            expectThrows<CasebookException.NotEnrolled> { runBlocking { book.syncNow(null, CancelToken()) } }
            val pin = expectThrows<CasebookException.InvalidInput> {
                runBlocking { book.enrol("https://127.0.0.1:9", "CODE", "not a pin", "test phone") }
            }
            check(pin.field == "certificate_pin") { "field ${pin.field}" }
            expectThrows<CasebookException.Offline> {
                runBlocking { book.enrol("https://127.0.0.1:9", "CODE", "ab".repeat(32), "test phone") }
            }
        }
    }

    test("close the store, wrong key is WrongKey, right key reopens") {
        book.closeStore()
        expectThrows<CasebookException.Closed> { book.listCases() }
        book.close()
        expectThrows<CasebookException.WrongKey> { Casebook.open(path, ByteArray(32) { 9 }) }
        book = Casebook.open(path, key)
        check(book.listCases().single().reference == "HUL-1") { "reopened" }
        book.close()
    }

    println("kotlin: $passed passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}
