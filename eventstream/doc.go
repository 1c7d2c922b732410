// Package eventstream delivers spooled rows to a Microsoft Fabric Eventstream custom endpoint
// (an Event Hubs namespace) over its Kafka surface, with segmentio/kafka-go's Writer: SASL_SSL,
// PLAIN with user "$ConnectionString" and the connection string as password, or OAUTHBEARER
// with an Entra ID token; required acks all; one JSON object per row (the table's column shape)
// with the table name and the row's source position as headers; requests batched by bytes under
// the endpoint's request limit.
//
// It classifies every outcome once, here at the destination boundary: throttling
// (THROTTLING_QUOTA_EXCEEDED) and retriable broker or network errors, messages the broker
// rejects (too large, invalid: dead letters with the broker's answer) and fatal errors (SASL
// authentication, authorization). Errors name the endpoint and never contain the connection
// string or a token.
package eventstream
