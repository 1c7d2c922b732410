// Package httpsrc is pbi-pusher's HTTP ingest source: a listener that accepts the Power BI
// "Post rows" request, so a producer that calls Power BI today switches only its base URL and
// gains durability and rate shaping (the sidecar deployment).
//
// It serves POST /v1.0/myorg/datasets/{dataset}/tables/{table}/rows and the same path under
// /v1.0/myorg/groups/{group}/ (the group is accepted and ignored). {dataset} is a configured
// dataset's name or its Power BI id, as the Resolver maps it; a source whose table is
// DATASET/TABLE accepts every configured table of DATASET. The body is {"rows":[{...}, ...]}.
//
// Answers, in the Power BI error shape {"error":{"code":..,"message":..,"details":[..]}}:
//   - 200, empty body, only after the RecordWriter returned: the rows are in the spool;
//   - 400 when the body is not a rows object or any row fails the table's schema, with one detail
//     per failing row ("row 3: column Value: ...", target "rows[3]"). The whole request is
//     rejected and nothing is spooled, as Power BI does, so the client's retry after fixing the
//     rows does not duplicate the good ones;
//   - 401 when sources[].tokens is set and the request lacks one of them as a bearer token;
//   - 404 for an unknown dataset or table, 405 for a method other than POST;
//   - 413 for a body over Options.MaxBodyBytes;
//   - 503 with Retry-After when the spool is full (checked before reading the body, and when the
//     write itself ends with spool.ErrFull);
//   - 500 when the spool fails otherwise.
package httpsrc
