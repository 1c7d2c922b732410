// Package emulator is a local Power BI push-API emulator: it serves the push-dataset REST
// endpoints (My workspace and /groups/{groupId} forms) with the service's status codes, JSON
// shapes, validation and rolling-window limits, plus fault injection and introspection, so
// pbi-pusher can be tested without a Power BI tenant.
//
// Faithful (documented by Microsoft, see ../shared/pbi-api.md): endpoints and success codes;
// @odata.context/value wrappers; the table-name pattern (1–100 characters); 75 tables, 75
// columns, 75 relationships; dataType values Int64, Double, Boolean, DateTime, String, Decimal;
// Int64 min/max and non-finite Double rejected; strings up to 4,000 characters; 10,000 rows per
// POST; 1,000,000 rows per rolling hour; 120 POSTs per rolling minute; 120 POSTs per rolling
// hour once a retention-None table holds 250,000 rows; 5 pending POSTs; basicFIFO keeps the
// newest 200,000 rows; None caps a table at 5,000,000; 16 MB bodies (413); PUT table replaces
// the column list and cannot create a table (404 ItemNotFound); 429 carries Retry-After.
//
// Chosen where the documentation is silent (strict, documented-safe):
//   - dataType is case-insensitive and "bool" means Boolean; the canonical name is returned.
//   - Property names in request bodies are case-sensitive and unknown properties are a 400.
//   - null values and missing columns are accepted; a column that is not in the table is a 400.
//   - Values must have the JSON type of the column: numbers for Int64/Double/Decimal (Int64 must
//     be an integer literal), true/false for Boolean, strings for String and DateTime. DateTime
//     accepts ISO 8601 date or date-time (offset and fraction optional) and MM/DD/YYYY.
//   - String length counts UTF-16 code units, as .NET does.
//   - Any invalid row rejects the whole POST (400, nothing stored); the message names the row
//     (0-based index), the column and the reason.
//   - Duplicate table or column names compare case-insensitively.
//   - Row-shape errors (413, malformed JSON, too many rows) do not count against the rate
//     windows; a POST that passes the windows counts even if its values are then rejected.
//   - A POST that would take a None table past MaxTableRows is a 400 RowsLimitExceeded.
//   - The 429 error codes and the pending-posts message are guesses (the service documents
//     only the rows-per-hour message); Retry-After is the ceiling of the seconds until every
//     rolling window admits that request, 1 for pending-posts and injected throttles.
//   - PUT table keeps existing rows; values of removed or retyped columns are dropped.
//   - Workspaces (group ids) need no creation; datasets are visible only in their workspace.
//   - defaultMode AsAzure/AsOnPrem creates a non-push dataset: POST rows answers 404
//     "Dataset <id> is not Push API dataset.", as the service does.
//   - Streaming and PushStreaming store rows like Push; streaming tiles are not modelled.
//   - Faults are injected on POST rows only.
package emulator
