// Package emulator is a local Power BI push-API emulator: it serves the push-dataset REST
// endpoints (My workspace and /groups/{groupId} forms), the workspace endpoints (GET and POST
// /groups) and executeQueries, with the service's status codes, JSON shapes, validation and
// rolling-window limits, plus fault injection and introspection, so pbi-pusher and other
// clients can be tested without a Power BI tenant.
//
// Every answer is checked against Microsoft's swagger (../shared/powerbi-push-swagger.json) by
// swagger_conformance_test.go with kin-openapi. The README's "What is faithful" and "What is
// assumed" sections list each behaviour with its evidence (doc, spec or captured live answer)
// or mark it as the emulator's own choice. In short:
//   - Tokens: an expired token (ExpiredToken reports it) is 403 TokenExpired with the live
//     message; a missing or unknown one is 401 PowerBINotAuthorizedException.
//   - Workspaces must exist (Options.Workspaces, CreateWorkspace, POST /groups): an unknown id is
//     404 PowerBIEntityNotFound, a non-uuid 400.
//   - Enum values are case-insensitive. Strings convertible to Int64, Double, Decimal and Boolean
//     are stored converted unless StrictTypes. Table names are case-insensitive everywhere.
//   - A 429 carries Retry-After and the bare {"message":"…"} body (ThrottleBody "error" gives
//     the {"error":{…}} shape). An unknown property is the captured "Bad Request" 400.
//   - executeQueries evaluates ROW with COUNTROWS/DISTINCTCOUNT and TOPN; other DAX is a 400
//     "DAX query failure".
//   - Limits (10,000 rows per POST, 120 POSTs per minute, 120 per hour once a retention-None
//     table holds 250,000 rows, 1,000,000 rows per hour, 5 pending POSTs, 16 MB, 4,000
//     characters, 75 tables/columns/relationships, basicFIFO 200,000 rows, None 5,000,000) are
//     enforced per dataset on rolling windows; every refusal is counted in Stats.
package emulator
