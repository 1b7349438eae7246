// The device key held by the app, through the generated Kotlin bindings, against a real
// casebook-server over TLS (started by tests/bindings/main.rs). The app's DeviceSigner is
// built on java.security (EC secp256r1, SHA256withECDSA, which gives DER), as an Android
// Keystore signer would be: the phone enrols and syncs with it; a copy of its store on a phone
// without that private key cannot open a session; the phone itself keeps syncing.
// Prints "N passed, N failed"; exits non-zero on any failure.

import java.io.File
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.Signature
import java.security.spec.ECGenParameterSpec
import java.util.concurrent.atomic.AtomicInteger
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking
import org.casebook.mobile.*

private val env = System.getenv()
private val url = env.getValue("CASEBOOK_URL")
private val pin = env.getValue("CASEBOOK_PIN")
private val dir = File(env.getValue("CASEBOOK_SIGNER_DIR"))
private const val ALIAS = "casebook-device-key"

/// What an Android Keystore signer does, with a key pair made by java.security.
private class JavaSigner(private val keys: KeyPair = newKeyPair()) : DeviceSigner {
    val signatures = AtomicInteger()
    override fun keyAlias(): String = ALIAS
    // X.509 SubjectPublicKeyInfo DER, as `KeyStore.getCertificate(alias).publicKey.encoded`.
    override fun publicKey(): ByteArray = keys.public.encoded
    override fun sign(payload: ByteArray): ByteArray {
        signatures.incrementAndGet()
        val signer = Signature.getInstance("SHA256withECDSA")
        signer.initSign(keys.private)
        signer.update(payload)
        return signer.sign()
    }

    companion object {
        fun newKeyPair(): KeyPair {
            val generator = KeyPairGenerator.getInstance("EC")
            generator.initialize(ECGenParameterSpec("secp256r1"))
            return generator.generateKeyPair()
        }
    }
}

/// A signer whose key was invalidated (say, by a new fingerprint enrolled on the phone).
private class GoneSigner(private val public: ByteArray) : DeviceSigner {
    override fun keyAlias(): String = ALIAS
    override fun publicKey(): ByteArray = public
    override fun sign(payload: ByteArray): ByteArray =
        throw SignerException.KeyUnavailable("key permanently invalidated")
}

/// A signer that fails with an exception the bindings do not know.
private class BrokenSigner(private val public: ByteArray) : DeviceSigner {
    override fun keyAlias(): String = ALIAS
    override fun publicKey(): ByteArray = public
    override fun sign(payload: ByteArray): ByteArray = throw IllegalStateException("keystore crashed")
}

private val storeKey = ByteArray(32) { (it * 7 + 3).toByte() }

/// A closed store's files copied to `name`, as a thief copying them off the phone would.
private fun copyStore(from: File, name: String): File {
    val to = File(dir, name)
    for (suffix in listOf("", "-wal", "-shm")) {
        val source = File(from.path + suffix)
        if (source.exists()) source.copyTo(File(to.path + suffix), overwrite = true)
    }
    return to
}

fun main() {
    val phoneFile = File(dir, "phone.db")
    val hardware = JavaSigner()
    lateinit var deviceId: String
    lateinit var caseId: String

    test("a phone whose key lives in the app's signer enrols and syncs") {
        val phone = Casebook.openWithSigner(phoneFile.path, storeKey, hardware)
        val info = runBlocking { phone.enrol(url, env.getValue("CASEBOOK_CODE_1"), pin, "signer phone") }
        deviceId = info.deviceId
        check(phone.deviceKeyAlias() == ALIAS) { "alias ${phone.deviceKeyAlias()}" }
        check(hardware.signatures.get() >= 1) { "the signer was not asked to prove its key" }
        caseId = phone.createCase(Profile(
            caseReference = "HUL-SIGNER-1",
            givenName = "Minh",
            familyName = "Do",
            ageStatus = AgeStatus.DISPUTED_TREAT_AS_CHILD,
            legalBasis = LegalBasis.SECTION20,
            nrm = Nrm(reasonableGrounds = NrmDecision.PENDING, conclusiveGrounds = NrmDecision.PENDING),
            immigration = Immigration(outcome = ImmigrationOutcome.PENDING, asylumClaimed = true),
        ))
        val before = hardware.signatures.get()
        val report = runBlocking { phone.syncNow(null, null) }
        check(report.docsPushed >= 1uL) { "pushed ${report.docsPushed}" }
        check(hardware.signatures.get() == before + 1) { "the session was not signed by the app" }
        phone.closeStore()
    }

    test("a second phone of the same guardian receives the case") {
        val other = Casebook.open(File(dir, "other.db").path, storeKey)
        runBlocking { other.enrol(url, env.getValue("CASEBOOK_CODE_2"), pin, "software phone") }
        check(other.deviceKeyAlias() == null) { "a software key has no alias" }
        runBlocking { other.syncNow(null, null) }
        check(other.listCases().any { it.caseId == caseId }) { "cases ${other.listCases()}" }
        other.closeStore()
    }

    test("a copy of the store on a phone without the private key cannot open a session") {
        val copy = Casebook.open(copyStore(phoneFile, "copy.db").path, storeKey)
        check(copy.deviceInfo()?.deviceId == deviceId) { "the copy is the same device" }
        expectThrows<CasebookException.SignerFailed> { runBlocking { copy.syncNow(null, null) } }
        copy.closeStore()

        val thief = JavaSigner()
        val withOwnKey = Casebook.openWithSigner(copyStore(phoneFile, "copy2.db").path, storeKey, thief)
        expectThrows<CasebookException.SignerFailed> { runBlocking { withOwnKey.syncNow(null, null) } }
        check(thief.signatures.get() == 1) { "signed ${thief.signatures.get()} times" }
        withOwnKey.closeStore()
    }

    test("a signer that fails is reported as SignerFailed, and nothing crashes") {
        val public = hardware.publicKey()
        for ((name, signer) in listOf("gone" to GoneSigner(public), "broken" to BrokenSigner(public))) {
            val book = Casebook.openWithSigner(copyStore(phoneFile, "$name.db").path, storeKey, signer)
            val e = expectThrows<CasebookException.SignerFailed> { runBlocking { book.syncNow(null, null) } }
            check(!e.toString().contains("crashed")) { "the app's exception text leaked: $e" }
            book.closeStore()
        }
    }

    test("the phone with its signer keeps syncing") {
        val phone = Casebook.openWithSigner(phoneFile.path, storeKey, hardware)
        val report = runBlocking { phone.syncNow(null, null) }
        check(report.rounds >= 1u) { "$report" }
        check(phone.listCases().any { it.caseId == caseId }) { "cases ${phone.listCases()}" }
        phone.closeStore()
    }

    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
