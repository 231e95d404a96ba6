/*
 * A stand-in for Windows' bcryptprimitives.dll, for the Wine test only (tests/windows_wine.rs).
 *
 * Why: Rust's standard library gets its random numbers on Windows from ProcessPrng in
 * bcryptprimitives.dll (Windows 10 and later have it). Debian's Wine 8 ships a
 * bcryptprimitives.dll without it, so the relay's .exe cannot even start there. scripts/wine-test.sh
 * builds this file with mingw-w64 and puts the DLL beside the .exe it tests, with
 * WINEDLLOVERRIDES preferring it to Wine's own. It is never part of a release archive: real Windows
 * has the real one.
 *
 * ProcessPrng fills a buffer with cryptographically random bytes; here advapi32's RtlGenRandom
 * (exported as SystemFunction036), which Wine implements, does the work.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
