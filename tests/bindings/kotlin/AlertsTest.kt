// Alerts to the team through the generated Kotlin bindings, against a real casebook-server
// over TLS (started by tests/bindings/main.rs, which also plays the administrator and checks
// the audit afterwards). A carer's phone, offline, starts a missing episode at 02:10 and syncs
// later; the guardian's and the supervisor's listeners hear the alert on their next sync; the
// supervisor acknowledges; the guardian's listener then hears it acknowledged, by whom.
// Prints "N passed, N failed"; exits non-zero on any failure.

import java.io.File
import java.time.LocalDate
import java.time.ZoneOffset
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking
import org.casebook.mobile.*

private val alertsEnv = System.getenv()
private val alertsUrl = alertsEnv.getValue("CASEBOOK_URL")
private val alertsPin = alertsEnv.getValue("CASEBOOK_PIN")
private val alertsDir = File(alertsEnv.getValue("CASEBOOK_ALERTS_DIR"))
private var alertsRequests = 0

/// Ask the administrator (the test driver) to do something, and wait until it is done.
private fun askAdministrator(verb: String, arg: String) {
    val n = ++alertsRequests
    println("REQUEST $n $verb $arg")
    System.out.flush()
    val done = File(alertsDir, "done-$n")
    val deadline = System.currentTimeMillis() + 60_000
    while (!done.exists()) {
        if (System.currentTimeMillis() > deadline) throw AssertionError("administrator did not answer $verb")
        Thread.sleep(20)
    }
}

private fun enrolPhone(name: String, code: String): Casebook {
    val key = ByteArray(32) { (it * 17 + name.length).toByte() }
    val book = Casebook.open(File(alertsDir, "$name.db").path, key)
    runBlocking { book.enrol(alertsUrl, code, alertsPin, "$name phone") }
    return book
}

/// The alerts a listener heard, in order.
private class AlertEvents : ChangeListener {
    val list = java.util.concurrent.CopyOnWriteArrayList<TeamAlert>()
    override fun onChange(event: ChangeEvent) {
        if (event.source == ChangeSource.ALERT) {
            val alert = event.alert ?: throw AssertionError("an Alert event without its alert")
            check(event.caseId == alert.caseId) { "event names ${event.caseId}" }
            list.add(alert)
        }
    }
}

fun main() {
    lateinit var guardian: Casebook
    lateinit var supervisor: Casebook
    lateinit var carer: Casebook
    lateinit var caseId: String
    lateinit var alertId: String
    val handles = mutableListOf<ObservationHandle>()
    val guardianHeard = AlertEvents()
    val supervisorHeard = AlertEvents()
    // Yesterday at 02:10: the return seven hours later is in the past whenever the test runs.
    val at0210 = LocalDate.now(ZoneOffset.UTC).minusDays(1).atTime(2, 10).toInstant(ZoneOffset.UTC)

    test("the team's phones enrol and hold the case") {
        guardian = enrolPhone("guardian", alertsEnv.getValue("CASEBOOK_CODE_GUARDIAN"))
        caseId = guardian.createCase(Profile(
            caseReference = "HUL-ALERT-1",
            givenName = "Linh",
            ageStatus = AgeStatus.DISPUTED_TREAT_AS_CHILD,
            legalBasis = LegalBasis.SECTION20,
            nrm = Nrm(reasonableGrounds = NrmDecision.PENDING, conclusiveGrounds = NrmDecision.PENDING),
            immigration = Immigration(outcome = ImmigrationOutcome.PENDING, asylumClaimed = true),
        ))
        runBlocking { guardian.syncNow(null, null) }
        askAdministrator("case", caseId)
        supervisor = enrolPhone("supervisor", alertsEnv.getValue("CASEBOOK_CODE_SUPERVISOR"))
        carer = enrolPhone("carer", alertsEnv.getValue("CASEBOOK_CODE_CARER"))
        for (phone in listOf(guardian, supervisor, carer)) runBlocking { phone.syncNow(null, null) }
        check(carer.heldKinds(caseId) == listOf(DocKind.SAFETY)) { "carer holds ${carer.heldKinds(caseId)}" }
        // Kept referenced: a handle freed by the garbage collector stops its listener.
        handles += guardian.observe(guardianHeard)
        handles += supervisor.observe(supervisorHeard)
    }

    test("a carer's episode started offline at 02:10 reaches the supervisor's and the guardian's listeners") {
        carer.startMissingEpisode(caseId, MissingEpisode(
            category = EpisodeCategory.MISSING,
            returnInterviewOutcome = ReturnInterviewOutcome.NOT_YET,
            missingSince = at0210,
            circumstances = "CANARY did not come back from the shop",
        ))
        runBlocking { carer.syncNow(null, null) }
        check(carer.alerts().isEmpty()) { "the author was alerted: ${carer.alerts()}" }

        runBlocking { supervisor.syncNow(null, null) }
        val heard = supervisorHeard.list.singleOrNull() ?: throw AssertionError("supervisor heard ${supervisorHeard.list}")
        check(heard.kind == AlertKind.MISSING) { "$heard" }
        check(heard.caseReference == "HUL-ALERT-1") { "$heard" }
        check(heard.happenedAt == at0210) { "happened at ${heard.happenedAt}" }
        check(!heard.acknowledged) { "$heard" }
        check(!heard.toString().contains("CANARY")) { "$heard" }
        check(supervisor.alerts() == listOf(heard)) { "listed ${supervisor.alerts()}" }
        alertId = heard.id

        runBlocking { guardian.syncNow(null, null) }
        val guardianAlert = guardianHeard.list.singleOrNull() ?: throw AssertionError("guardian heard ${guardianHeard.list}")
        check(guardianAlert.id == alertId && !guardianAlert.acknowledged) { "$guardianAlert" }
    }

    test("the supervisor acknowledges; the guardian then sees it acknowledged, by the supervisor") {
        supervisor.acknowledgeAlert(alertId)
        val pending = supervisor.alerts().single()
        check(pending.acknowledged && pending.acknowledgementPending) { "$pending" }
        runBlocking { supervisor.syncNow(null, null) }
        val mine = supervisor.alerts().single()
        val supervisorUser = supervisor.deviceInfo()!!.userId
        check(!mine.acknowledgementPending && mine.acknowledgedBy == supervisorUser) { "$mine" }

        guardianHeard.list.clear()
        runBlocking { guardian.syncNow(null, null) }
        val update = guardianHeard.list.singleOrNull() ?: throw AssertionError("guardian heard ${guardianHeard.list}")
        check(update.id == alertId && update.acknowledged) { "$update" }
        check(update.acknowledgedBy == supervisorUser) { "acknowledged by ${update.acknowledgedBy}" }
        check(update.acknowledgedAt != null) { "$update" }
        check(guardian.alerts().single().acknowledged) { "${guardian.alerts()}" }
        println("ACKNOWLEDGED $caseId")
    }

    test("the episode ends: a new alert, listed above the acknowledged one") {
        val episode = carer.missingEpisodes(caseId).single()
        carer.endMissingEpisode(caseId, episode.id, at0210.plusSeconds(7 * 3600))
        runBlocking { carer.syncNow(null, null) }
        guardianHeard.list.clear()
        runBlocking { guardian.syncNow(null, null) }
        check(guardianHeard.list.map { it.kind } == listOf(AlertKind.ENDED)) { "${guardianHeard.list}" }
        check(guardian.alerts().map { it.kind } == listOf(AlertKind.ENDED, AlertKind.MISSING)) { "${guardian.alerts()}" }
        expectThrows<CasebookException.InvalidInput> { guardian.acknowledgeAlert("not-an-id") }
    }

    handles.forEach { it.stop() }
    println("$passed passed, $failed failed")
    if (failed > 0) exitProcess(1)
}
