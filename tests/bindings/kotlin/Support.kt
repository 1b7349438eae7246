// Test scaffolding shared by the Kotlin programs in this folder: named checks that count
// passes and failures, and typed-exception expectations.

internal var passed = 0
internal var failed = 0

/// Run one named check, counting it; a failure is printed and does not stop the others.
internal fun test(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("ok   $name")
    } catch (e: Throwable) {
        failed++
        println("FAIL $name: $e")
        e.printStackTrace()
    }
}

internal fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

internal inline fun <reified E : Throwable> expectThrows(body: () -> Unit): E {
    try {
        body()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing thrown")
}
