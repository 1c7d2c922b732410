package auth

import (
	"context"
	"fmt"
	"time"

	mi "github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
)

// managed builds the managed identity fetcher: system-assigned, or user-assigned by auth.client_id.
//
// MSAL picks the source from the environment: App Service / Functions / Container Apps
// (IDENTITY_ENDPOINT + IDENTITY_HEADER), Service Fabric, Azure Arc, Azure ML, Cloud Shell, else
// IMDS at the fixed address 169.254.169.254, which has no override other than an HTTPClient whose
// transport rewrites the host. MSAL keeps managed identity tokens in a process-wide cache.
func (b *builder) managed() (fetcher, error) {
	id := mi.SystemAssigned()
	if b.a.ClientID != "" {
		id = mi.UserAssignedClientID(b.a.ClientID)
	}
	app, err := mi.New(id, mi.WithHTTPClient(b.http))
	if err != nil {
		return nil, fmt.Errorf("create MSAL managed identity client: %w", err)
	}
	resource := b.ep.scope // MSAL strips "/.default"
	return func(ctx context.Context, fresh bool) (string, time.Time, error) {
		var o []mi.AcquireTokenOption
		if fresh {
			o = append(o, mi.WithClaims(freshClaims()))
		}
		ar, err := app.AcquireToken(ctx, resource, o...)
		return ar.AccessToken, ar.ExpiresOn, err
	}, nil
}
