// A realistic day through the generated Kotlin bindings, against a real casebook-server over
// TLS (started by tests/bindings/main.rs, which also plays the administrator). A guardian's
// phone enrols, records an interpreter-assisted visit offline and syncs; a supervisor sees the
// note and signs it off; a carer logs a safety check and holds only the safety document; the
// supervisor's listener hears which case and document a sync changed; a
// sync given up half-way (by its cancel token, or by cancelling its coroutine) loses nothing;
// a revoked phone is wiped. Prints "N passed, N failed"; exits non-zero on any failure.

import java.io.File
import java.time.Instant
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.system.exitProcess
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.casebook.mobile.*

private val env = System.getenv()
private val url = env.getValue("CASEBOOK_URL")
private val pin = env.getValue("CASEBOOK_PIN")
private val dir = File(env.getValue("CASEBOOK_DAY_DIR"))
private var requests = 0

/// Ask the administrator (the test driver) to do something, and wait until it is done.
private fun administrator(verb: String, arg: String) {
    val n = ++requests
    println("REQUEST $n $verb $arg")
    System.out.flush()
    val done = File(dir, "done-$n")
    val deadline = System.currentTimeMillis() + 60_000
    while (!done.exists()) {
        if (System.currentTimeMillis() > deadline) throw AssertionError("administrator did not answer $verb")
        Thread.sleep(20)
    }
}

private fun phone(name: String, code: String): Casebook {
    val key = ByteArray(32) { (it * 31 + name.length).toByte() }
    val book = Casebook.open(File(dir, "$name.db").path, key)
    val info = runBlocking { book.enrol(url, code, pin, "$name phone") }
    check(info.serverUrl == url) { "enrolled with ${info.serverUrl}" }
    return book
}

/// A visit note with no interpreter.
private fun visit(words: String) = VisitNote(
    visitedAt = Instant.now(),
    place = "foster home",
    interpreter = Interpreter(mode = InterpreterMode.NONE, vetting = VettingStatus.NOT_CHECKED),
    wishesAndFeelings = words,
    review = Review(status = ReviewStatus.SUBMITTED),
)

/// Calls `action` on the first progress report, that is after the first round trip.
private class AfterFirstRound(val action: () -> Unit) : SyncProgressListener {
    val calls = AtomicInteger()
    override fun onProgress(progress: SyncProgress) {
        if (calls.incrementAndGet() == 1) action()
    }
}

private class Progress : SyncProgressListener {
    val calls = AtomicInteger()
    override fun onProgress(progress: SyncProgress) { calls.incrementAndGet() }
}

/// Every change event, in order.
private class Events : ChangeListener {
    val list = java.util.concurrent.CopyOnWriteArrayList<ChangeEvent>()
    override fun onChange(event: ChangeEvent) { list.add(event) }
}

fun main() {
    lateinit var guardian: Casebook
    lateinit var supervisor: Casebook
    lateinit var carer: Casebook
    lateinit var caseId: String
    lateinit var noteId: String

    test("guardian enrols and records an interpreter-assisted visit offline, then syncs") {
        guardian = phone("guardian", env.getValue("CASEBOOK_CODE_GUARDIAN"))
        caseId = guardian.createCase(Profile(
            caseReference = "HUL-DAY-1",
            givenName = "Linh",
            familyName = "Tran",
            ageStatus = AgeStatus.DISPUTED_TREAT_AS_CHILD,
            legalBasis = LegalBasis.SECTION20,
            nrm = Nrm(reasonableGrounds = NrmDecision.PENDING, conclusiveGrounds = NrmDecision.PENDING),
            immigration = Immigration(outcome = ImmigrationOutcome.PENDING, asylumClaimed = true),
        ))
        noteId = guardian.addVisitNote(caseId, VisitNote(
            visitedAt = Instant.now(),
            place = "foster home",
            attendees = listOf("guardian", "interpreter"),
            interpreter = Interpreter(
                mode = InterpreterMode.TELEPHONE,
                name = "Mai",
                agency = "Vetted Languages Ltd",
                language = "Vietnamese (northern)",
                vetting = VettingStatus.VETTED,
                childConsented = true,
            ),
            wishesAndFeelings = "I want to see my sister.",
            review = Review(status = ReviewStatus.SUBMITTED),
        ))
        val progress = Progress()
        val report = runBlocking { guardian.syncNow(progress, CancelToken()) }
        check(report.docsPushed >= 5uL) { "pushed ${report.docsPushed}" }
        check(progress.calls.get() >= 1) { "no progress reported" }
        administrator("case", caseId)
    }

    test("supervisor sees the note and signs it off") {
        supervisor = phone("supervisor", env.getValue("CASEBOOK_CODE_SUPERVISOR"))
        runBlocking { supervisor.syncNow(null, null) }
        check(supervisor.listCases().any { it.caseId == caseId }) { "supervisor's cases: ${supervisor.listCases()}" }
        val note = supervisor.visitNote(caseId, noteId)
        check(note.wishesAndFeelings == "I want to see my sister.") { note.wishesAndFeelings }
        check(note.interpreter.vetting == VettingStatus.VETTED) { "${note.interpreter}" }
        supervisor.reviewVisitNote(caseId, noteId, ReviewStatus.SIGNED_OFF, "Good record")
        runBlocking { supervisor.syncNow(null, null) }
        runBlocking { guardian.syncNow(null, null) }
        val review = guardian.visitNote(caseId, noteId).review
        check(review.status == ReviewStatus.SIGNED_OFF) { "$review" }
        check(review.reviewer == supervisor.deviceInfo()!!.userId) { "reviewer ${review.reviewer}" }
    }

    test("a note open on the guardian's phone while it is signed off is saved without undoing the sign-off") {
        val secondId = guardian.addVisitNote(caseId, visit("second visit"))
        runBlocking { guardian.syncNow(null, null) }
        val onScreen = guardian.visitNote(caseId, secondId)
        runBlocking { supervisor.syncNow(null, null) }
        supervisor.reviewVisitNote(caseId, secondId, ReviewStatus.SIGNED_OFF, "Fine")
        runBlocking { supervisor.syncNow(null, null) }
        runBlocking { guardian.syncNow(null, null) }
        guardian.updateVisitNote(caseId, secondId, onScreen.copy(observations = "Talked about football."))
        val saved = guardian.visitNote(caseId, secondId)
        check(saved.review.status == ReviewStatus.SIGNED_OFF) { "sign-off undone: ${saved.review}" }
        check(saved.observations == "Talked about football.") { saved.observations }
    }

    test("carer logs a safety check and holds only the safety document") {
        carer = phone("carer", env.getValue("CASEBOOK_CODE_CARER"))
        runBlocking { carer.syncNow(null, null) }
        check(carer.heldKinds(caseId) == listOf(DocKind.SAFETY)) { "carer holds ${carer.heldKinds(caseId)}" }
        expectThrows<CasebookException.Forbidden> { carer.visitNotes(caseId) }
        carer.logSafetyCheck(caseId, SafetyCheck(checkedAt = Instant.now(), outcome = CheckOutcome.OK, note = "Window locks checked"))
        runBlocking { carer.syncNow(null, null) }
        runBlocking { supervisor.syncNow(null, null) }
        check(supervisor.safetyChecks(caseId).size == 1) { "supervisor sees ${supervisor.safetyChecks(caseId)}" }
    }

    test("a sync's change events name the case and the kind of each document it changed") {
        val events = Events()
        val handle = supervisor.observe(events)
        carer.logSafetyCheck(caseId, SafetyCheck(checkedAt = Instant.now(), outcome = CheckOutcome.OK, note = "Smoke alarm tested"))
        runBlocking { carer.syncNow(null, null) }
        runBlocking { supervisor.syncNow(null, null) }
        val seen = events.list.filter { it.source == ChangeSource.SYNC }.map { it.caseId to it.kind }
        check(seen == listOf(caseId to DocKind.SAFETY)) { "events: ${events.list}" }
        // A sync that brings nothing tells nothing.
        events.list.clear()
        runBlocking { supervisor.syncNow(null, null) }
        check(events.list.isEmpty()) { "events: ${events.list}" }
        handle.stop()
    }

    test("a sync cancelled by its token after one round trip is Cancelled and loses nothing") {
        // Both write while apart, so the guardian's sync has to send and to receive.
        val fromSupervisor = supervisor.addVisitNote(caseId, visit("supervisor's note"))
        runBlocking { supervisor.syncNow(null, null) }
        val fromGuardian = guardian.addVisitNote(caseId, visit("recorded in a car park"))
        val token = CancelToken()
        val cancelling = AfterFirstRound { token.cancel() }
        expectThrows<CasebookException.Cancelled> { runBlocking { guardian.syncNow(cancelling, token) } }
        check(cancelling.calls.get() == 1) { "progress after cancel: ${cancelling.calls.get()}" }
        val held = guardian.visitNotes(caseId).map { it.id }
        check(held.containsAll(listOf(fromSupervisor, fromGuardian))) { "guardian holds $held" }
        runBlocking { guardian.syncNow(null, null) }
        runBlocking { supervisor.syncNow(null, null) }
        check(supervisor.visitNotes(caseId).any { it.id == fromGuardian }) { "guardian's note lost" }
    }

    test("cancelling the coroutine of a sync half-way loses nothing; the next sync finishes") {
        val fromSupervisor = supervisor.addVisitNote(caseId, visit("another supervisor's note"))
        runBlocking { supervisor.syncNow(null, null) }
        val fromGuardian = guardian.addVisitNote(caseId, visit("another car park"))
        val job = AtomicReference<Job>()
        val leaving = AfterFirstRound { job.get().cancel() }
        runBlocking {
            val sync = launch(Dispatchers.IO, start = CoroutineStart.LAZY) { guardian.syncNow(leaving, null) }
            job.set(sync)
            sync.start()
            sync.join()
            check(sync.isCancelled) { "the sync coroutine was not cancelled" }
        }
        val report = runBlocking { guardian.syncNow(null, null) }
        check(report.rounds >= 1u) { "$report" }
        runBlocking { supervisor.syncNow(null, null) }
        for (phone in listOf(guardian, supervisor)) {
            val held = phone.visitNotes(caseId).map { it.id }
            check(held.containsAll(listOf(fromSupervisor, fromGuardian))) { "holds $held" }
        }
    }

    test("a revoked phone is refused and wiped") {
        administrator("revoke", guardian.deviceInfo()!!.deviceId)
        expectThrows<CasebookException.DeviceRevoked> { runBlocking { guardian.syncNow(null, null) } }
        check(guardian.listCases().isEmpty()) { "revoked phone still holds ${guardian.listCases()}" }
        runBlocking { supervisor.syncNow(null, null) }
        check(supervisor.listCases().size == 1) { "others carry on" }
    }

    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
