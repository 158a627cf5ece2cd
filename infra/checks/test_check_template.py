"""The template checker fails on the mistakes it exists for: each test mutates a copy of the
real template (or of the scanned code) and expects a named problem; the real one passes.

Run: .local/venv/bin/python -m unittest discover -s infra/checks -v
"""

import copy
import unittest

import check_template as ct

TEMPLATE = ct.load_template(ct.DEFAULT_TEMPLATE)
TEMPLATE_DIR = ct.DEFAULT_TEMPLATE.parent
CODE = ct.scan_code(ct.REPO_ROOT)


def problems(t=None, code=None):
    return ct.run_checks(t or TEMPLATE, code or CODE, TEMPLATE_DIR, ct.REPO_ROOT)


def mutated(edit):
    t = copy.deepcopy(TEMPLATE)
    edit(t)
    return t


def props(t, rid):
    return t["Resources"][rid]["Properties"]


def event(t, fid):
    (ev,) = props(t, fid)["Events"].values()
    return ev["Properties"]


def role_statements(t, role):
    return props(t, role)["Policies"][0]["PolicyDocument"]["Statement"]


def with_code(pkg_dir, extra_source):
    code = copy.deepcopy(CODE)
    code.packages[pkg_dir].sources.append(extra_source)
    return code


class RealTemplate(unittest.TestCase):
    def test_passes_every_check(self):
        self.assertEqual(problems(), [])

    def test_sees_every_package_and_route(self):
        self.assertEqual(
            {p.name for p in CODE.packages.values()},
            {"cello-token", "signup", "stripe-webhook", "checkout", "cello-events", "rewards"},
        )
        self.assertEqual(set(ct.routes(TEMPLATE)), ct.REQUIRED_ROUTES)

    def test_sees_the_doctor_as_a_command_not_a_function(self):
        self.assertEqual({p.name for p in CODE.commands.values()}, {"doctor"})
        self.assertEqual([rid for rid, _ in ct.command_policies(TEMPLATE, "doctor")], ["DoctorReadOnlyPolicy"])

    def test_reads_the_common_settings_from_the_code(self):
        reads = ct.env_reads(CODE.shared_sources)
        self.assertTrue({"TABLE_NAME", "SECRET_ID", "STRIPE_MODE", "AUTH_MODE"} <= reads, reads)


class Authorizers(unittest.TestCase):
    def assertProblem(self, found, *needles):
        for needle in needles:
            self.assertTrue(any(needle in p for p in found), f"no problem mentions {needle!r}: {found}")

    def test_token_route_losing_its_authorizer_fails(self):
        t = mutated(lambda t: event(t, "CelloTokenFunction")["Auth"].update(Authorizer="NONE"))
        found = problems(t)
        self.assertProblem(found, "route POST /cello/token (CelloTokenFunction) has no JWT authorizer")
        # SAM's own translation agrees: the deployed API would let anyone in.
        self.assertProblem(found, "translated HttpApi: POST /cello/token is not protected")

    def test_signup_route_without_auth_and_without_default_fails(self):
        def edit(t):
            del event(t, "SignupFunction")["Auth"]
            del props(t, "HttpApi")["Auth"]["DefaultAuthorizer"]

        self.assertProblem(problems(mutated(edit)), "route POST /signup (SignupFunction) has no JWT authorizer")

    def test_a_route_without_its_own_auth_gets_the_default_authorizer(self):
        # Not a failure: DefaultAuthorizer protects it, in the template and in SAM's output.
        t = mutated(lambda t: event(t, "SignupFunction").pop("Auth"))
        self.assertEqual(problems(t), [])

    def test_checkout_routes_losing_their_authorizer_fail(self):
        for name, key in (("Checkout", "POST /checkout"), ("Discount", "GET /checkout/discount")):
            t = mutated(lambda t: props(t, "CheckoutFunction")["Events"][name]["Properties"]["Auth"].update(Authorizer="NONE"))
            found = problems(t)
            self.assertProblem(found, f"route {key} (CheckoutFunction) has no JWT authorizer")
            self.assertProblem(found, f"translated HttpApi: {key} is not protected")

    def test_webhook_behind_the_authorizer_fails(self):
        t = mutated(lambda t: event(t, "StripeWebhookFunction")["Auth"].update(Authorizer="UserJwt"))
        found = problems(t)
        self.assertProblem(found, "route POST /stripe/webhook must have no authorizer")
        self.assertProblem(found, "translated HttpApi: POST /stripe/webhook requires ['UserJwt']")

    def test_reward_callback_behind_the_authorizer_fails(self):
        # Cello sends Basic credentials, never a user token: behind the authorizer every
        # callback would be refused by API Gateway and every reward lost to Cello's retries.
        t = mutated(
            lambda t: props(t, "RewardsFunction")["Events"]["Callback"]["Properties"]["Auth"].update(
                Authorizer="UserJwt"
            )
        )
        found = problems(t)
        self.assertProblem(found, "route POST /cello/rewards must have no authorizer")
        self.assertProblem(found, "translated HttpApi: POST /cello/rewards requires ['UserJwt']")

    def test_credits_and_account_without_the_authorizer_fail(self):
        def edit(t):
            for name in ("Credits", "Account"):
                props(t, "RewardsFunction")["Events"][name]["Properties"]["Auth"].update(Authorizer="NONE")

        found = problems(mutated(edit))
        self.assertProblem(found, "route GET /credits (RewardsFunction) has no JWT authorizer")
        self.assertProblem(found, "route DELETE /account (RewardsFunction) has no JWT authorizer")
        self.assertProblem(found, "translated HttpApi: DELETE /account is not protected")

    def test_authorizer_without_audience_fails(self):
        t = mutated(
            lambda t: props(t, "HttpApi")["Auth"]["Authorizers"]["UserJwt"]["JwtConfiguration"].pop("audience")
        )
        self.assertProblem(problems(t), "route POST /cello/token", "route POST /signup")

    def test_missing_route_fails(self):
        t = mutated(lambda t: event(t, "SignupFunction").update(Path="/sign-up"))
        self.assertProblem(problems(t), "route POST /signup is missing")

    def test_wildcard_cors_origin_fails(self):
        t = mutated(lambda t: props(t, "HttpApi")["CorsConfiguration"].update(AllowOrigins=["*"]))
        self.assertProblem(problems(t), "AllowOrigins must name the frontend origin")


class Iam(unittest.TestCase):
    assertProblem = Authorizers.assertProblem

    def test_wildcard_action_fails(self):
        t = mutated(lambda t: role_statements(t, "SignupRole")[1]["Action"].append("dynamodb:*"))
        self.assertProblem(problems(t), "SignupRole.Policies[0] statement 1: wildcard action 'dynamodb:*'")

    def test_prefix_wildcard_action_fails(self):
        t = mutated(lambda t: role_statements(t, "CelloTokenRole")[1].update(Action="dynamodb:Get*"))
        self.assertProblem(problems(t), "wildcard action 'dynamodb:Get*'")

    def test_star_resource_fails(self):
        t = mutated(lambda t: role_statements(t, "StripeWebhookRole")[2].update(Resource="*"))
        self.assertProblem(problems(t), "StripeWebhookRole.Policies[0] statement 2: wildcard resource '*'")

    def test_wildcard_inside_an_arn_fails(self):
        arn = {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"}
        t = mutated(lambda t: role_statements(t, "SignupRole")[1].update(Resource=arn))
        self.assertProblem(problems(t), "wildcard resource")

    def test_not_action_fails(self):
        t = mutated(lambda t: role_statements(t, "SignupRole").append({"Effect": "Allow", "NotAction": "iam:*", "Resource": {"Ref": "AppSecret"}}))
        self.assertProblem(problems(t), "NotAction grants everything else")

    def test_sam_policy_templates_fail(self):
        t = mutated(lambda t: props(t, "SignupFunction").update(Policies=[{"DynamoDBCrudPolicy": {"TableName": {"Ref": "UsersTable"}}}]))
        self.assertProblem(problems(t), "function SignupFunction: Policies")

    def test_function_without_its_own_role_fails(self):
        t = mutated(lambda t: props(t, "CelloTokenFunction").pop("Role"))
        self.assertProblem(problems(t), "function CelloTokenFunction: needs Role from this template")

    def test_managed_policy_on_a_role_fails(self):
        arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        t = mutated(lambda t: props(t, "SignupRole").update(ManagedPolicyArns=[arn]))
        self.assertProblem(problems(t), "role SignupRole: managed policies")

    def test_code_calling_an_ungranted_operation_fails(self):
        code = with_code("functions/cello-token", "let out = client.query().table_name(t).send().await;")
        self.assertProblem(problems(code=code), "function CelloTokenFunction: functions/cello-token/src calls what dynamodb:Query authorizes")

    def test_a_grant_no_code_calls_fails(self):
        # checkout only reads, claims and records: DeleteItem or Scan would be more than it needs.
        # (PutItem and DeleteItem are not caught here: shared calls them, the user store for
        # signup and shared/src/credits for the kept rewards signup and rewards apply.)
        for action in ("dynamodb:Scan", "dynamodb:BatchWriteItem"):
            t = mutated(lambda t: role_statements(t, "CheckoutRole")[1]["Action"].append(action))
            self.assertTrue(
                any(f"CheckoutFunction: its role grants {action}" in p for p in problems(t)),
                action,
            )

    def test_checkout_without_query_fails(self):
        t = mutated(lambda t: role_statements(t, "CheckoutRole")[1]["Action"].remove("dynamodb:Query"))
        self.assertTrue(any("CheckoutFunction: functions/checkout/src calls what dynamodb:Query" in p for p in problems(t)))

    def test_rewards_without_delete_fails(self):
        # The erasure deletes the email item (a transaction's Delete element).
        def edit(t):
            role_statements(t, "RewardsRole")[1]["Action"].remove("dynamodb:DeleteItem")

        self.assertProblem(
            problems(mutated(edit)),
            "function RewardsFunction: functions/rewards/src calls what dynamodb:DeleteItem authorizes",
        )

    def test_transaction_elements_need_their_item_actions(self):
        code = with_code("functions/cello-token", "let c = ConditionCheck::builder().table_name(t);")
        self.assertProblem(problems(code=code), "dynamodb:ConditionCheckItem")


class Packages(unittest.TestCase):
    assertProblem = Authorizers.assertProblem

    def test_package_without_function_fails(self):
        t = mutated(lambda t: t["Resources"].pop("SignupFunction"))
        self.assertProblem(problems(t), "package signup (functions/signup) has no AWS::Serverless::Function")

    def test_function_without_package_fails(self):
        def edit(t):
            extra = copy.deepcopy(t["Resources"]["SignupFunction"])
            extra["Properties"]["CodeUri"] = "../functions/ghost"
            extra["Properties"]["Events"]["Signup"]["Properties"]["Path"] = "/ghost"
            t["Resources"]["GhostFunction"] = extra

        self.assertProblem(problems(mutated(edit)), "function GhostFunction: CodeUri '../functions/ghost' is not a package")

    def test_wrong_binary_name_fails(self):
        t = mutated(lambda t: t["Resources"]["SignupFunction"]["Metadata"]["BuildProperties"].update(Binary="sign-up"))
        self.assertProblem(problems(t), "Binary is 'sign-up', the package's binary is 'signup'")

    def test_x86_fails(self):
        t = mutated(lambda t: props(t, "StripeWebhookFunction").update(Architectures=["x86_64"]))
        self.assertProblem(problems(t), "function StripeWebhookFunction: Architectures must be ['arm64']")


class Environment(unittest.TestCase):
    assertProblem = Authorizers.assertProblem

    def globals_env(self, t):
        return t["Globals"]["Function"]["Environment"]["Variables"]

    def test_auth_mode_local_fails(self):
        t = mutated(lambda t: self.globals_env(t).update(AUTH_MODE="local"))
        self.assertProblem(problems(t), "AUTH_MODE must be 'jwt-authorizer', not 'local'")

    def test_auth_mode_left_to_its_default_fails(self):
        t = mutated(lambda t: self.globals_env(t).pop("AUTH_MODE"))
        self.assertProblem(problems(t), "must set AUTH_MODE=jwt-authorizer explicitly")

    def test_local_only_settings_fail(self):
        def edit(t):
            props(t, "SignupFunction")["Environment"] = {
                "Variables": {"LOCAL_AUTH_SECRET": "x" * 20, "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:1"}
            }

        found = problems(mutated(edit))
        self.assertProblem(found, "SignupFunction: sets LOCAL_AUTH_SECRET, a local-only setting")
        self.assertProblem(found, "SignupFunction: sets AWS_ENDPOINT_URL_DYNAMODB, a local-only setting")

    def test_lambdas_reserved_variables_may_not_be_set(self):
        t = mutated(lambda t: self.globals_env(t).update(AWS_REGION="eu-west-1"))
        self.assertProblem(problems(t), "sets AWS_REGION, which Lambda reserves and sets itself")

    def test_secret_in_an_env_var_fails(self):
        t = mutated(lambda t: self.globals_env(t).update(STRIPE_SECRET_KEY="sk_live_x"))
        self.assertProblem(problems(t), "sets STRIPE_SECRET_KEY; secrets belong in Secrets Manager")

    def test_variable_no_code_reads_fails(self):
        t = mutated(lambda t: self.globals_env(t).update(TABEL_NAME="typo"))
        self.assertProblem(problems(t), "sets TABEL_NAME, which functions/signup/src and shared/src never read")

    def test_required_variable_unset_fails(self):
        t = mutated(lambda t: self.globals_env(t).pop("TABLE_NAME"))
        self.assertProblem(problems(t), "its code reads TABLE_NAME but the template does not set it")

    def test_the_reward_environment_must_be_set(self):
        # No default for CELLO_ENV: a forgotten setting must fail the check, not credit
        # sandbox rewards in production.
        t = mutated(lambda t: props(t, "RewardsFunction")["Environment"]["Variables"].pop("CELLO_ENV"))
        self.assertProblem(problems(t), "RewardsFunction: its code reads CELLO_ENV but the template does not set it")

    def test_a_new_setting_in_a_function_must_reach_the_template(self):
        code = with_code("functions/cello-token", 'let ttl = settings.seconds("CELLO_WIDGET_THEME")?;')
        found = problems(code=code)
        self.assertProblem(found, "CelloTokenFunction: its code reads CELLO_WIDGET_THEME")
        # ...and only for that function.
        self.assertFalse(any("SignupFunction" in p for p in found), found)

    def test_settings_named_by_constants_are_found(self):
        src = 'const EXPIRY_VAR: &str = "CELLO_TOKEN_EXPIRY";\nlet e = s.optional(EXPIRY_VAR);'
        self.assertEqual(ct.env_reads([src]), {"CELLO_TOKEN_EXPIRY"})

    def test_test_modules_are_ignored(self):
        src = 'fn a() { s.required("REAL", "x"); }\n#[cfg(test)]\nmod tests {\n fn b() { s.required("ONLY_IN_TESTS", "x"); { } }\n}\nfn c() { s.list("AFTER"); }'
        self.assertEqual(ct.env_reads([ct.strip_test_modules(src)]), {"REAL", "AFTER"})


class StreamConsumer(unittest.TestCase):
    assertProblem = Authorizers.assertProblem

    def test_partial_batch_failures_are_required(self):
        t = mutated(lambda t: props(t, "CelloEventsStream").update(FunctionResponseTypes=[]))
        self.assertProblem(problems(t), "mapping CelloEventsStream: FunctionResponseTypes must include ReportBatchItemFailures")

    def test_a_failure_destination_is_required(self):
        t = mutated(lambda t: props(t, "CelloEventsStream").pop("DestinationConfig"))
        self.assertProblem(problems(t), "DestinationConfig.OnFailure.Destination must be an SQS queue")

    def test_unbounded_retries_fail(self):
        t = mutated(lambda t: props(t, "CelloEventsStream").update(MaximumRetryAttempts=-1))
        self.assertProblem(problems(t), "MaximumRetryAttempts must be set")

    def test_no_bisect_fails(self):
        t = mutated(lambda t: props(t, "CelloEventsStream").pop("BisectBatchOnFunctionError"))
        self.assertProblem(problems(t), "BisectBatchOnFunctionError must be true")

    def test_unfiltered_or_broken_filters_fail(self):
        t = mutated(lambda t: props(t, "CelloEventsStream").pop("FilterCriteria"))
        self.assertProblem(problems(t), "FilterCriteria.Filters must select")
        t = mutated(lambda t: props(t, "CelloEventsStream")["FilterCriteria"]["Filters"][0].update(Pattern="{nope"))
        self.assertProblem(problems(t), "Filters[0].Pattern is not JSON")

    def test_reporting_on_by_default_or_unswitched_fails(self):
        t = mutated(lambda t: t["Parameters"]["CelloReporting"].update(Default="on"))
        self.assertProblem(problems(t), "parameter CelloReporting: must default to off")
        t = mutated(lambda t: t["Resources"]["CelloEventsStream"].pop("Condition"))
        self.assertProblem(problems(t), "must have a Condition on the CelloReporting parameter")

    def test_the_role_must_read_the_stream_and_write_the_queue(self):
        def drop(action):
            def edit(t):
                for st in role_statements(t, "CelloEventsRole"):
                    st["Action"] = [a for a in ct.as_list(st["Action"]) if a != action]
            return edit

        self.assertProblem(problems(mutated(drop("sqs:SendMessage"))), "its role lacks sqs:SendMessage on CelloEventsDeadLetterQueue")
        self.assertProblem(problems(mutated(drop("dynamodb:GetRecords"))), "its role lacks ['dynamodb:GetRecords'] on UsersTable.StreamArn")

    def test_the_stream_needs_both_images(self):
        t = mutated(lambda t: props(t, "UsersTable").update(StreamSpecification={"StreamViewType": "KEYS_ONLY"}))
        self.assertProblem(problems(t), "StreamViewType must be NEW_AND_OLD_IMAGES")

    def test_a_consumer_without_its_mapping_fails(self):
        t = mutated(lambda t: t["Resources"].pop("CelloEventsStream"))
        self.assertProblem(problems(t), "function CelloEventsFunction: a stream consumer needs exactly one")


class SamConfig(unittest.TestCase):
    CONFIG = ct.tomllib.loads((TEMPLATE_DIR / "samconfig.toml").read_text())

    def test_real_samconfig_passes(self):
        self.assertEqual(ct.check_samconfig(TEMPLATE, self.CONFIG), [])
        self.assertIn('StripeMode="live"', self.CONFIG["live"]["deploy"]["parameters"]["parameter_overrides"])

    def test_unknown_parameter_or_value_fails(self):
        config = copy.deepcopy(self.CONFIG)
        config["live"]["deploy"]["parameters"]["parameter_overrides"] = 'StripeMode="prod" Stage="x"'
        found = ct.check_samconfig(TEMPLATE, config)
        self.assertTrue(any("StripeMode='prod' is not one of" in p for p in found), found)
        self.assertTrue(any("names Stage, not a template parameter" in p for p in found), found)



def doctor_statements(t):
    return props(t, "DoctorReadOnlyPolicy")["PolicyDocument"]["Statement"]


def with_command_code(extra_source):
    code = copy.deepcopy(CODE)
    code.commands["functions/doctor"].sources.append(extra_source)
    return code


class DoctorPolicy(unittest.TestCase):
    def test_a_write_action_in_the_policy_fails(self):
        for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "secretsmanager:PutSecretValue", "dynamodb:BatchWriteItem"):
            t = mutated(lambda t: doctor_statements(t)[0]["Action"].append(action))
            self.assertIn(f"DoctorReadOnlyPolicy statement 0: {action} is not a read action; doctor's policy must be read-only", problems(t), action)

    def test_a_deny_or_a_missing_policy_fails(self):
        t = mutated(lambda t: doctor_statements(t)[1].update(Effect="Deny"))
        self.assertIn("DoctorReadOnlyPolicy statement 1: only Allow statements belong in a read-only policy", problems(t))
        t = mutated(lambda t: t["Resources"]["DoctorReadOnlyPolicy"].pop("Metadata"))
        self.assertIn("command doctor (functions/doctor) needs exactly one AWS::IAM::ManagedPolicy with Metadata.Command 'doctor', found 0", problems(t))

    def test_a_read_the_policy_lacks_fails(self):
        code = with_command_code("let out = client.get_item().table_name(t).send().await;")
        self.assertIn("command doctor: functions/doctor/src calls what dynamodb:GetItem authorizes, but DoctorReadOnlyPolicy lacks it", problems(code=code))

    def test_any_write_in_the_doctors_code_fails(self):
        for src, what in [
            ("client.put_item().table_name(t)", "a DynamoDB write"),
            ("let u = Update::builder().table_name(t);", "a DynamoDB transaction write"),
            ("RequestBuilder::new(StripeMethod::Post, path)", "a Stripe POST/DELETE"),
            ("UpdateCustomer::new(id).send(&client)", "a Stripe create/update/delete request"),
            ("api.send_event(&event).await", "a Cello API write"),
            ("table.note_minted(now, 1).await", "a write through a store port"),
        ]:
            found = [p for p in problems(code=with_command_code(src)) if p.startswith("command doctor: functions/doctor/src makes")]
            self.assertEqual(len(found), 1, (src, found))
            self.assertIn(what, found[0])


if __name__ == "__main__":
    unittest.main()
