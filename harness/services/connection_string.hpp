#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace firedrill {

/// Everything but letters, digits and `- . _ ~` as %XX (RFC 3986 userinfo and path segments):
/// the form SecretScrubber also masks.
std::string percent_encoded(std::string_view text);

/// `value` as one libpq conninfo value. A value of letters, digits and `. _ , -` only stays as
/// it is; any other is single-quoted with `\` and `'` backslash-escaped, so a space, `=` or quote
/// in a scenario's user, database or password stays inside its own keyword: a database named
/// `postgres host=198.51.100.7` is a database name, never a second host.
std::string conninfo_value(std::string_view value);

/// `keyword=value …` in the order given, each value passed through conninfo_value.
std::string conninfo(const std::vector<std::pair<std::string, std::string>>& fields);

/// `postgresql://user:password@hosts/database[?query]` with user, password and database
/// percent-encoded (the form SecretScrubber masks), so `@ / : ?` in a password cannot move the
/// host or the database. `hosts` is `host:port[,host:port…]`; `query` is written as given.
std::string postgres_url(const std::string& user, const std::string& password, const std::string& hosts,
                         const std::string& database, const std::string& query = "");

}  // namespace firedrill
