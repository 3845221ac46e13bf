"""Which test proves each spec field does what docs/api.md says; rendered into docs/api.md by generate.py.

Keys are the field paths of the reference tables (`spec.smtp.host`, `spec.selector.matchExpressions[].key`);
each names one or more tests as `path/to/test_file.py::test_function`, relative to the repository.
Only leaf fields are listed: an object's fields prove it. tests/unit/crds/test_field_tests.py walks the
models and fails when a field has no entry here (or sits in its KNOWN_UNTESTED set) or a named test is
gone. An end-to-end test on the real stack is named first when one exists; a unit test names the pure
function the field feeds.
"""

from __future__ import annotations

E2E_OPERATOR = (
    "tests/e2e/operator/test_operator.py::test_pool_lifecycle_credentials_warmup_cooldown_autopause_restart"
)
RENDER = "tests/unit/common/test_message.py"
LIMITS = "tests/integration/worker/test_limits.py"
HEALTH = "tests/unit/operator/test_health.py"
POOL_POLICY = "tests/unit/operator/test_pool_policy.py"
WARMUP = "tests/unit/operator/test_warmup.py"
WINDOW = "tests/unit/common/test_window.py"
SCHEDULE = "tests/unit/operator/test_campaign_schedule.py"
VERIFY = (
    "tests/e2e/verification/test_campaign_verification.py"
    "::test_invalid_addresses_are_skipped_before_any_send_and_results_are_reused"
)
FEEDBACK_E2E = "tests/e2e/feedback/test_feedback.py::test_late_bounces_alone_auto_pause_the_pool"
VERIFY_RUNS = "tests/integration/verification/test_runs.py"
VERIFY_JOB = (
    "tests/unit/verification/test_plan.py::test_the_job_carries_the_egress_pool_and_the_workers_secret"
)
# The API e2e tests on the real stack (operator, local runner, workers, sink).
FIELDS = "tests/e2e/api/test_campaign_fields.py"
E2E_SENT = f"{FIELDS}::test_templates_tokens_order_suppression_and_rejected_rows"
E2E_TEMPLATE_HELD = f"{FIELDS}::test_a_placeholder_nothing_defines_holds_the_campaign_before_any_job"
E2E_LONG_SUBJECT = f"{FIELDS}::test_a_five_thousand_character_subject_is_folded_under_998_octets"
E2E_UNKNOWN = f"{FIELDS}::test_a_job_whose_send_outlived_its_lease_counts_as_unknown_not_failed"
E2E_SCALING = "tests/e2e/api/test_pools.py::test_a_large_campaign_scales_its_workers_down_once_at_the_end"
CLAIM_SCHEDULE = (
    "tests/integration/worker/test_claim_schedule.py"
    "::test_jobs_claimed_after_their_window_closed_wait_for_their_recipients_next_opening"
)

FIELD_TESTS: dict[str, dict[str, tuple[str, ...]]] = {
    "Mailbox": {
        "spec.address": (E2E_OPERATOR, f"{RENDER}::test_message_has_the_required_headers"),
        "spec.displayName": (E2E_SENT, f"{RENDER}::test_sender_variables_come_from_the_mailbox"),
        "spec.signature": (
            E2E_SENT,
            "tests/integration/operator/test_mailbox_rows.py::test_the_signature_reaches_the_worker_and_follows_edits",
            "tests/unit/worker/test_planner.py::test_each_recipient_gets_its_token_in_the_link_and_the_mailbox_signature",
            f"{RENDER}::test_sender_variables_come_from_the_mailbox",
        ),
        "spec.smtp.host": (E2E_OPERATOR,),
        "spec.smtp.port": (E2E_OPERATOR,),
        "spec.smtp.tlsMode": (
            "tests/integration/worker/test_reply_rules.py::test_implicit_tls_and_plain_connections",
            "tests/unit/worker/test_dispatcher.py::test_plaintext_auth_is_refused_unless_allowed",
        ),
        "spec.credentials.vaultPath": (
            E2E_OPERATOR,
            "tests/unit/operator/test_tenancy.py::test_a_foreign_looking_path_is_read_inside_the_own_folder_with_its_version",
        ),
        "spec.credentials.secretRef.name": (
            "tests/unit/operator/test_credentials.py::test_kubernetes_secrets_missing_unreadable_and_complete",
            "tests/unit/operator/test_tenancy.py::test_secret_references_may_be_turned_off_by_the_admin",
        ),
        "spec.credentials.secretRef.usernameKey": (
            "tests/unit/operator/test_credentials.py::test_a_secret_needs_both_keys_and_the_values_stay_inside",
        ),
        "spec.credentials.secretRef.passwordKey": (
            "tests/unit/operator/test_credentials.py::test_a_secret_needs_both_keys_and_the_values_stay_inside",
        ),
        "spec.imap.host": (
            FEEDBACK_E2E,
            "tests/unit/common/test_providers.py::test_the_spec_host_wins_then_the_provider_then_nothing",
        ),
        "spec.imap.port": (FEEDBACK_E2E,),
        "spec.imap.tlsMode": (
            FEEDBACK_E2E,
            "tests/integration/ingester/test_imap_reader.py::test_starttls_and_xoauth2",
            "tests/unit/operator/test_credentials_oauth.py::test_imap_without_tls_is_refused_with_credentials_unless_allowed",
        ),
        "spec.credentials.oauth2.provider": (
            "tests/e2e/operator/test_oauth_mailbox.py::test_an_oauth2_mailbox_becomes_ready_and_its_campaign_reaches_the_sink_over_xoauth2",
            "tests/unit/common/test_mail_credentials.py::test_an_oauth2_mailbox_gets_an_access_token_from_googles_endpoint_with_its_scope",
            "tests/unit/common/test_mail_credentials.py::test_microsoft_uses_the_secrets_tenant_and_custom_its_token_url",
        ),
        "spec.credentials.oauth2.tokenUrl": (
            "tests/e2e/operator/test_oauth_mailbox.py::test_an_oauth2_mailbox_becomes_ready_and_its_campaign_reaches_the_sink_over_xoauth2",
            "tests/unit/operator/test_credentials_oauth.py::test_an_http_token_url_is_refused_unless_the_admin_allows_cleartext",
        ),
        "spec.warmupStart": (f"{WARMUP}::test_day_counts_from_the_start_date",),
        "spec.paused": ("tests/e2e/potctl/test_kube_commands.py::test_pause_then_resume",),
        "spec.pauseReason": ("tests/unit/potctl/test_kube_views.py::test_pause_patches",),
    },
    "MailboxPool": {
        "spec.selector.matchLabels": (
            "tests/unit/operator/test_controllers_pure.py::test_selector_match_labels_and_expressions",
            E2E_OPERATOR,
        ),
        "spec.selector.matchExpressions[].key": (
            "tests/unit/operator/test_controllers_pure.py::test_selector_match_labels_and_expressions",
        ),
        "spec.selector.matchExpressions[].operator": (
            "tests/unit/operator/test_controllers_pure.py::test_selector_match_labels_and_expressions",
        ),
        "spec.selector.matchExpressions[].values": (
            "tests/unit/operator/test_controllers_pure.py::test_selector_match_labels_and_expressions",
        ),
        "spec.limits.perInboxPerDay": (
            f"{LIMITS}::test_inbox_caps_and_rotation_to_the_next_mailbox",
            f"{WARMUP}::test_effective_cap_is_bounded_by_the_inbox_cap_and_zero_while_held",
        ),
        "spec.limits.perInboxPerHour": (f"{LIMITS}::test_inbox_caps_and_rotation_to_the_next_mailbox",),
        "spec.limits.minSpacingSeconds": (f"{LIMITS}::test_min_spacing_between_reservations",),
        "spec.limits.perRecipientDomainPerHour": (
            f"{LIMITS}::test_each_level_refuses_by_name_and_nothing_is_counted",
        ),
        "spec.warmup.days": (
            E2E_OPERATOR,
            f"{WARMUP}::test_linear_curve_starts_on_day_one_and_reaches_maximum_on_the_last_day",
        ),
        "spec.warmup.startVolume": (
            f"{WARMUP}::test_linear_curve_starts_on_day_one_and_reaches_maximum_on_the_last_day",
        ),
        "spec.warmup.maxVolume": (
            f"{WARMUP}::test_linear_curve_starts_on_day_one_and_reaches_maximum_on_the_last_day",
        ),
        "spec.warmup.curve": (
            f"{WARMUP}::test_gentle_curve_is_below_linear_in_between_and_meets_it_at_the_ends",
        ),
        "spec.health.windowSeconds": (f"{HEALTH}::test_events_before_a_resume_do_not_count_again",),
        "spec.health.minSample": (f"{HEALTH}::test_below_min_sample_scores_100_and_says_so",),
        "spec.health.bounceRateWarnBasisPoints": (
            f"{HEALTH}::test_breached_names_each_rate_and_honours_min_sample",
        ),
        "spec.health.bounceRatePauseBasisPoints": (
            f"{POOL_POLICY}::test_bounce_over_pause_threshold_pauses_the_pool",
        ),
        "spec.health.complaintRateWarnBasisPoints": (
            f"{HEALTH}::test_breached_names_each_rate_and_honours_min_sample",
        ),
        "spec.health.complaintRatePauseBasisPoints": (
            f"{POOL_POLICY}::test_complaints_over_threshold_pause",
        ),
        "spec.health.deferralRatePauseBasisPoints": (
            f"{HEALTH}::test_everything_at_or_over_threshold_scores_zero",
        ),
        "spec.health.cooldownSeconds": (
            E2E_OPERATOR,
            f"{HEALTH}::test_cooldown_holds_until_its_end_then_resumes_with_resume_time",
        ),
        "spec.health.cooldownCapPercent": (f"{HEALTH}::test_reduced_cap_only_during_recovery",),
        "spec.health.maxCoolingPercent": (f"{POOL_POLICY}::test_too_many_cooling_mailboxes_pause",),
        "spec.autoPause.enabled": (
            "tests/e2e/operator/test_deliverability.py::test_auto_pause_alerts_each_incident_once_per_route",
            "tests/unit/operator/test_pool_plan.py::test_without_auto_pause_a_remembered_pause_is_lifted",
        ),
        "spec.autoPause.resume": (
            f"{POOL_POLICY}::test_manual_policy_stays_paused_until_acknowledged",
            f"{POOL_POLICY}::test_after_delay_policy_resumes_by_itself",
        ),
        "spec.workers.image": (
            "tests/e2e/tenancy/test_attacks.py::test_attack_5_a_pool_cannot_choose_the_image_that_gets_the_worker_secret",
        ),
        "spec.workers.minReplicas": (
            E2E_SCALING,
            E2E_OPERATOR,
            f"{POOL_POLICY}::test_replicas_follow_backlog_within_bounds",
        ),
        "spec.workers.maxReplicas": (
            E2E_SCALING,
            E2E_OPERATOR,
            f"{POOL_POLICY}::test_replicas_follow_backlog_within_bounds",
        ),
        "spec.workers.sendsPerWorkerPerHour": (
            E2E_SCALING,
            f"{POOL_POLICY}::test_replicas_follow_backlog_within_bounds",
        ),
        "spec.sendingWindow.start": (f"{WINDOW}::test_daytime_window_in_the_pools_zone",),
        "spec.sendingWindow.end": (f"{WINDOW}::test_window_over_midnight_counts_the_day_it_started",),
        "spec.sendingWindow.timeZone": (f"{WINDOW}::test_dst_change_follows_local_time",),
        "spec.sendingWindow.days": (f"{WINDOW}::test_no_window_means_all_day_on_sending_days",),
        "spec.alerts.telegram.chatId": (
            "tests/e2e/operator/test_deliverability.py::test_auto_pause_alerts_each_incident_once_per_route",
            "tests/integration/deliverability/test_alerts.py::test_alerter_reads_each_routes_secret_from_vault_and_sends",
        ),
        "spec.alerts.telegram.tokenVaultPath": (
            "tests/integration/deliverability/test_alerts.py::test_alerter_reads_each_routes_secret_from_vault_and_sends",
        ),
        "spec.alerts.slack.webhookVaultPath": (
            "tests/e2e/operator/test_deliverability.py::test_auto_pause_alerts_each_incident_once_per_route",
            "tests/integration/deliverability/test_alerts.py::test_alerter_reads_each_routes_secret_from_vault_and_sends",
        ),
        "spec.paused": ("tests/e2e/console/test_actions.py::test_pause_and_resume_change_the_real_pool",),
        "spec.pauseReason": (
            "tests/unit/potctl/test_kube_views.py::test_paused_cell_prefers_the_operators_reason",
        ),
    },
    "Campaign": {
        "spec.verification.mode": (
            VERIFY,
            f"{VERIFY_RUNS}::test_format_mx_results_serve_auto_but_not_smtp",
            "tests/e2e/verification/test_in_cluster.py::test_in_cluster_from_a_blocked_host_returns_smtp_level_results",
        ),
        "spec.verification.maxAge": (
            VERIFY,
            f"{VERIFY_RUNS}::test_results_are_reused_per_tenant_within_max_age_and_unknown_never",
            "tests/unit/verification/test_job.py::test_durations_as_kubernetes_writes_them",
        ),
        "spec.verification.risky": (
            VERIFY,
            f"{VERIFY_RUNS}::test_materialisation_skips_what_the_check_found_and_counts_each_address_once",
        ),
        "spec.verification.job.nodeSelector": (VERIFY, VERIFY_JOB),
        "spec.verification.job.tolerations[].key": (VERIFY, VERIFY_JOB),
        "spec.verification.job.tolerations[].operator": (VERIFY, VERIFY_JOB),
        "spec.verification.job.tolerations[].value": (VERIFY,),
        "spec.verification.job.tolerations[].effect": (VERIFY, VERIFY_JOB),
        "spec.verification.job.tolerations[].tolerationSeconds": (VERIFY, VERIFY_JOB),
        "spec.poolRef.name": (E2E_OPERATOR,),
        "spec.recipients.configMapRef.name": (E2E_OPERATOR, E2E_SENT),
        "spec.recipients.configMapRef.key": (E2E_OPERATOR,),
        "spec.recipients.secretRef.name": (
            "tests/unit/operator/test_tenancy.py::test_secret_references_may_be_turned_off_by_the_admin",
        ),
        "spec.recipients.secretRef.key": (
            "tests/unit/operator/test_tenancy.py::test_secret_references_may_be_turned_off_by_the_admin",
        ),
        "spec.recipients.importName": (
            "tests/unit/operator/test_tenancy.py::test_an_import_name_of_another_namespace_is_not_found",
        ),
        "spec.template.subject": (
            E2E_SENT,
            E2E_LONG_SUBJECT,
            E2E_TEMPLATE_HELD,
            E2E_OPERATOR,
            "tests/integration/operator/test_preview_and_lists.py::test_preview_is_the_message_the_worker_renders",
        ),
        "spec.template.text": (
            E2E_SENT,
            E2E_TEMPLATE_HELD,
            E2E_OPERATOR,
            "tests/integration/operator/test_preview_and_lists.py::test_preview_is_the_message_the_worker_renders",
        ),
        "spec.template.html": (f"{RENDER}::test_html_values_are_escaped",),
        "spec.template.variables": (
            E2E_SENT,
            f"{RENDER}::test_campaign_variables_fill_what_the_recipient_lacks_and_the_recipient_wins",
            "tests/unit/operator/test_campaign_template.py::test_placeholders_known_as_columns_variables_or_sender_pass",
        ),
        "spec.schedule.start": (
            f"{SCHEDULE}::test_a_campaign_before_its_start_is_scheduled_with_its_jobs_held",
        ),
        "spec.schedule.end": (
            f"{SCHEDULE}::test_at_the_end_what_is_open_is_left_unsent_and_the_campaign_completes",
            CLAIM_SCHEDULE,
        ),
        "spec.schedule.timeZone": (
            f"{SCHEDULE}::test_nine_to_five_local_follows_each_zones_daylight_saving_time",
            f"{SCHEDULE}::test_an_unknown_schedule_zone_holds_the_campaign",
            CLAIM_SCHEDULE,
        ),
        "spec.schedule.days": (f"{SCHEDULE}::test_days_start_and_end_bound_the_due_time",),
        "spec.schedule.sendFrom": (
            f"{SCHEDULE}::test_nine_to_five_local_follows_each_zones_daylight_saving_time",
            CLAIM_SCHEDULE,
        ),
        "spec.schedule.sendUntil": (
            f"{SCHEDULE}::test_nine_to_five_local_follows_each_zones_daylight_saving_time",
            CLAIM_SCHEDULE,
        ),
        "spec.limits.perDay": (
            f"{LIMITS}::test_a_campaign_at_its_cap_is_left_in_the_queue_not_claimed_and_refused",
        ),
        "spec.limits.perHour": (
            f"{LIMITS}::test_a_campaign_at_its_cap_is_left_in_the_queue_not_claimed_and_refused",
        ),
        "spec.suppressionLists": (
            E2E_SENT,
            "tests/integration/operator/test_materialise.py::test_jobs_follow_the_list_first_duplicate_wins_and_lists_suppress",
        ),
        "spec.unsubscribe.url": (
            E2E_SENT,
            "tests/e2e/demo/test_demo.py::test_demo_sends_the_example_campaign_into_the_sink_and_down_stops_everything",
            "tests/unit/worker/test_planner.py::test_each_recipient_gets_its_token_in_the_link_and_the_mailbox_signature",
            f"{RENDER}::test_unsubscribe_link_values_are_url_quoted",
        ),
        "spec.unsubscribe.mailto": (f"{RENDER}::test_message_has_the_required_headers",),
        "spec.unsubscribe.oneClick": (E2E_SENT, f"{RENDER}::test_one_click_false_leaves_the_post_header_out"),
        "spec.paused": (
            "tests/unit/operator/test_campaign_plan.py::test_a_paused_campaign_names_the_command_that_resumes_it",
        ),
        "spec.suspend": (
            E2E_UNKNOWN,
            "tests/e2e/operator/test_lifecycle.py::test_deleting_a_campaign_cancels_its_jobs_and_a_recreated_one_starts_fresh",
            "tests/unit/operator/test_campaign_plan.py::test_spec_suspend_holds_the_campaign_and_resuming_sends_again",
        ),
        "spec.preflightOverride": (
            "tests/e2e/operator/test_deliverability.py::test_broken_domain_blocks_the_campaign_until_overridden_and_listed_mailboxes_cool_down",
        ),
    },
}


def tests_of(kind: str, path: str) -> tuple[str, ...]:
    """The tests named for one field (none when it has no entry)."""
    return FIELD_TESTS.get(kind, {}).get(path, ())


__all__ = ["FIELD_TESTS", "tests_of"]
