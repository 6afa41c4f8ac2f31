#pragma once
#include <optional>
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

/// The other forms of a URL postgres_url made, as applications' frameworks expect them: `user`,
/// `password`, `database` decoded; `postgres_url` the same URL under the `postgres://` scheme
/// (Heroku, Rails, node-postgres); `conninfo` libpq's `host=… port=… user=… password=… dbname=…`
/// (a multi-host URL's hosts and ports as comma lists, its query's settings after them). Nothing
/// for another field. Throws std::invalid_argument for a URL not of that form.
std::optional<std::string> postgres_url_field(const std::string& url, std::string_view field);

/// The fields postgres_url_field gives beyond url, host and port.
inline const std::vector<std::string> postgres_reference_fields = {"postgres_url", "conninfo", "user", "password",
                                                                   "database"};

}  // namespace firedrill
