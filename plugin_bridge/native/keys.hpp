// CIR Bridge: the user's CurveZMQ keys (docs/protocol.md, "Authentication").
//
// The daemon's first start writes <data dir>/daemon.key (mode 0600): Z85 lines
// "server-public = ...", "server-secret = ...", "client-public = ...", "client-secret = ...".
// The plugin needs the daemon's public key (to know it talks to the user's daemon) and the
// client pair (to be admitted). The file is found as cir/protocol/keys.py finds it:
// $CIR_KEY_FILE, else $CIR_HOME/daemon.key, else the platform's user data dir + /cir.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifndef _WIN32
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace cir {

constexpr const char* kKeyFileEnv = "CIR_KEY_FILE";  // as cir/defaults.py KEY_FILE_ENV
constexpr const char* kHomeEnv = "CIR_HOME";         // CIR_HOME_ENV
constexpr const char* kKeyFileName = "daemon.key";   // KEY_FILENAME
constexpr size_t kZ85KeyChars = 40;

enum class KeyStatus { Ok, Missing, Unreadable, NotPrivate, Malformed };

struct UserKeys {
    std::string serverPublic;
    std::string clientPublic;
    std::string clientSecret;
};

inline std::string envOr(const char* name, const std::string& fallback)
{
    const char* v = std::getenv(name);
    return (v != nullptr && v[0] != '\0') ? std::string(v) : fallback;
}

// platformdirs' user_data_dir("cir", appauthor=False) for this platform.
inline std::string userDataDir()
{
#if defined(_WIN32)
    return envOr("LOCALAPPDATA", envOr("USERPROFILE", ".")) + "\\cir";
#elif defined(__APPLE__)
    return envOr("HOME", ".") + "/Library/Application Support/cir";
#else
    const std::string xdg = envOr("XDG_DATA_HOME", "");
    return (xdg.empty() ? envOr("HOME", ".") + "/.local/share" : xdg) + "/cir";
#endif
}

inline std::string keyFilePath()
{
    const std::string explicitPath = envOr(kKeyFileEnv, "");
    if (!explicitPath.empty())
        return explicitPath;
    const std::string home = envOr(kHomeEnv, "");
#if defined(_WIN32)
    const char sep = '\\';
#else
    const char sep = '/';
#endif
    return (home.empty() ? userDataDir() : home) + sep + kKeyFileName;
}

// Trim spaces and tabs at both ends.
inline std::string trim(const std::string& s)
{
    const size_t a = s.find_first_not_of(" \t\r");
    if (a == std::string::npos)
        return std::string();
    const size_t b = s.find_last_not_of(" \t\r");
    return s.substr(a, b - a + 1);
}

inline KeyStatus loadUserKeys(const std::string& path, UserKeys& out)
{
#ifndef _WIN32
    struct stat st;
    if (::stat(path.c_str(), &st) != 0)
        return KeyStatus::Missing;
    if ((st.st_mode & 077) != 0 || st.st_uid != ::geteuid())
        return KeyStatus::NotPrivate;  // the daemon refuses such a file too
#endif
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr)
        return KeyStatus::Unreadable;
    char buf[4096];
    const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    UserKeys keys;
    std::string all(buf, n);
    std::memset(buf, 0, sizeof(buf));
    size_t pos = 0;
    while (pos < all.size()) {  // line by line (strtok is not thread-safe: many instances)
        size_t end = all.find('\n', pos);
        if (end == std::string::npos)
            end = all.size();
        const std::string text = all.substr(pos, end - pos);
        pos = end + 1;
        const size_t eq = text.find('=');
        if (eq == std::string::npos || trim(text).rfind("#", 0) == 0)
            continue;
        const std::string name = trim(text.substr(0, eq));
        const std::string value = trim(text.substr(eq + 1));
        if (name == "server-public")
            keys.serverPublic = value;
        else if (name == "client-public")
            keys.clientPublic = value;
        else if (name == "client-secret")
            keys.clientSecret = value;
    }
    all.assign(all.size(), '\0');
    if (keys.serverPublic.size() != kZ85KeyChars || keys.clientPublic.size() != kZ85KeyChars
        || keys.clientSecret.size() != kZ85KeyChars)
        return KeyStatus::Malformed;
    out = keys;
    return KeyStatus::Ok;
}

}  // namespace cir
