package main

import (
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigil-sec/vigil/internal/agentapi"
	"github.com/vigil-sec/vigil/internal/app"
	"github.com/vigil-sec/vigil/internal/store"
)

func newTokensCmd() *cobra.Command {
	env := &adminEnv{}
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Manage agent enrollment tokens (`vigil agent --token …` enrolls a host into the token's account)",
	}
	env.addFlags(cmd)

	var account, desc string
	var maxUses int
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an enrollment token and print it (shown only this once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxUses < 0 || ttl < 0 {
				return fmt.Errorf("--max-uses and --ttl must not be negative")
			}
			st, _, err := env.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := accountByName(cmd.Context(), st, account)
			if err != nil {
				return err
			}
			t, tok, err := agentapi.CreateToken(cmd.Context(), st, a.ID,
				agentapi.TokenOptions{Description: desc, MaxUses: maxUses, TTL: ttl}, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Token=%s\nTokenId=%d\nAccount=%s\nMaxUses=%s\nExpires=%s\n",
				tok, t.ID, a.Name, usesText(t.MaxUses), fmtTime(t.ExpiresAt))
			return nil
		},
	}
	create.Flags().StringVar(&account, "account", app.DefaultAccount, "account the hosts enroll into")
	create.Flags().StringVar(&desc, "description", "", "free text shown by `tokens list`")
	create.Flags().IntVar(&maxUses, "max-uses", 0, "enrollments allowed (0: unlimited)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "validity, e.g. 24h (0: no expiry)")

	var listAccount string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the enrollment tokens of an account (never the tokens themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, _, err := env.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := accountByName(cmd.Context(), st, listAccount)
			if err != nil {
				return err
			}
			toks, err := st.ListEnrollTokens(cmd.Context(), a.ID)
			if err != nil {
				return err
			}
			now := time.Now()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tUSES\tMAX USES\tEXPIRES\tCREATED\tDESCRIPTION")
			for _, t := range toks {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\n", t.ID, tokenStatus(t, now), t.Uses, usesText(t.MaxUses),
					fmtTime(t.ExpiresAt), fmtTime(t.CreatedAt), t.Description)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&listAccount, "account", app.DefaultAccount, "account whose tokens to list")

	var revokeAccount string
	revoke := &cobra.Command{
		Use:   "revoke TOKEN_ID",
		Short: "Revoke an enrollment token (enrolled hosts keep their credentials)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("TOKEN_ID must be the number `tokens list` shows")
			}
			st, _, err := env.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := accountByName(cmd.Context(), st, revokeAccount)
			if err != nil {
				return err
			}
			if err := st.RevokeEnrollToken(cmd.Context(), a.ID, id, time.Now()); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("account %s has no enrollment token %d", a.Name, id)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %d revoked\n", id)
			return nil
		},
	}
	revoke.Flags().StringVar(&revokeAccount, "account", app.DefaultAccount, "account the token belongs to")
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func usesText(n int) string {
	if n == 0 {
		return "unlimited"
	}
	return strconv.Itoa(n)
}

func tokenStatus(t store.EnrollToken, now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return "expired"
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		return "used up"
	}
	return "active"
}
