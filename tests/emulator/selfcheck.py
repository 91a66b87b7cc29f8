#!/usr/bin/env python3
"""Self-check of ottd_moto.py's extension (no pytest): MediaLive input security groups,
push inputs and the RequestId of CreateInput / CreateChannel, CloudFront's
disable-then-delete rules, MediaLive channel state change events through EventBridge
(with `account` in the envelope), injected MediaLive alerts, SNS rule targets,
RestartChannelPipelines and GET /ottd-emulator/restarts, the ClientRequestToken of
DynamoDB TransactWriteItems, S3 object calls under a TLS-only bucket policy, and, when the emulator was started with --streams, the live
streams (origin and CloudFront hop, CDN authorization, HLS, DASH and CMAF, Range and
conditional requests, the freeze / thaw / stop / start / break / mend controls, restarts).

Usage: python selfcheck.py http://127.0.0.1:PORT
Exits 0 when every check passes, 1 otherwise. Needs boto3 (installed with moto).
It ends with POST /moto-api/reset: run it against an emulator of its own.
"""

import http.client
import json
import os
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

FAILED = []
PASSED = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + (f" ({detail})" if detail and not cond else ""))
    (PASSED if cond else FAILED).append(name)


def error_of(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, None


def main(url):
    ml = boto3.client(
        "medialive", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )

    sg = ml.create_input_security_group(
        WhitelistRules=[{"Cidr": "203.0.113.0/24"}], Tags={"ottd:deployment": "selfcheck"}
    )["SecurityGroup"]
    sg_id = sg["Id"]
    check("create: numeric id", sg_id.isdigit(), sg_id)
    check("create: arn", sg["Arn"].startswith("arn:aws:medialive:us-east-1:")
          and sg["Arn"].endswith(f":inputSecurityGroup:{sg_id}"), sg["Arn"])
    check("create: state IDLE", sg["State"] == "IDLE", sg["State"])
    check("create: whitelist", sg["WhitelistRules"] == [{"Cidr": "203.0.113.0/24"}], sg["WhitelistRules"])
    check("create: tags", sg["Tags"] == {"ottd:deployment": "selfcheck"}, sg.get("Tags"))
    check("create without rules -> BadRequestException",
          error_of(ml.create_input_security_group, WhitelistRules=[]) == ("BadRequestException", 400))

    listed = ml.list_input_security_groups()["InputSecurityGroups"]
    check("list contains group", any(g["Id"] == sg_id for g in listed), listed)

    d = ml.describe_input_security_group(InputSecurityGroupId=sg_id)
    check("describe: tags", d["Tags"] == {"ottd:deployment": "selfcheck"}, d.get("Tags"))
    check("describe: inputs empty", d.get("Inputs", []) == [], d.get("Inputs"))

    u = ml.update_input_security_group(
        InputSecurityGroupId=sg_id, WhitelistRules=[{"Cidr": "198.51.100.7/32"}]
    )["SecurityGroup"]
    check("update: whitelist replaced", u["WhitelistRules"] == [{"Cidr": "198.51.100.7/32"}], u)

    inp = ml.create_input(
        Name="selfcheck-udp", Type="UDP_PUSH", InputSecurityGroups=[sg_id], Tags={"k": "v"}
    )["Input"]
    urls = [x.get("Url", "") for x in inp.get("Destinations", [])]
    check("UDP_PUSH destinations udp:// x2", len(urls) == 2 and all(u.startswith("udp://") for u in urls), urls)
    di = ml.describe_input(InputId=inp["Id"])
    check("describe_input: SecurityGroups", di.get("SecurityGroups") == [sg_id], di.get("SecurityGroups"))

    rtmp = ml.create_input(
        Name="selfcheck-rtmp", Type="RTMP_PUSH", InputSecurityGroups=[sg_id],
        Destinations=[{"StreamName": "app/a"}, {"StreamName": "app/b"}],
    )["Input"]
    rurls = [x.get("Url", "") for x in rtmp.get("Destinations", [])]
    check("RTMP_PUSH urls", len(rurls) == 2 and rurls[0].startswith("rtmp://") and rurls[0].endswith(":1935/app/a")
          and rurls[1].endswith(":1935/app/b"), rurls)

    d = ml.describe_input_security_group(InputSecurityGroupId=sg_id)
    check("in use: state IN_USE", d["State"] == "IN_USE", d["State"])
    check("in use: inputs listed", sorted(d["Inputs"]) == sorted([inp["Id"], rtmp["Id"]]), d["Inputs"])
    check("delete in-use -> BadRequestException 400",
          error_of(ml.delete_input_security_group, InputSecurityGroupId=sg_id) == ("BadRequestException", 400))
    check("create_input unknown sg -> BadRequestException",
          error_of(ml.create_input, Name="x", Type="UDP_PUSH", InputSecurityGroups=["1"])[0] == "BadRequestException")

    ml.delete_input(InputId=inp["Id"])
    d = ml.describe_input_security_group(InputSecurityGroupId=sg_id)
    check("one input left: still IN_USE", d["State"] == "IN_USE" and d["Inputs"] == [rtmp["Id"]], d)
    ml.delete_input(InputId=rtmp["Id"])
    d = ml.describe_input_security_group(InputSecurityGroupId=sg_id)
    check("inputs deleted: IDLE", d["State"] == "IDLE" and d.get("Inputs", []) == [], d)

    ml.delete_input_security_group(InputSecurityGroupId=sg_id)
    check("describe deleted -> NotFoundException 404",
          error_of(ml.describe_input_security_group, InputSecurityGroupId=sg_id) == ("NotFoundException", 404))
    check("delete unknown -> NotFoundException 404",
          error_of(ml.delete_input_security_group, InputSecurityGroupId=sg_id) == ("NotFoundException", 404))
    check("list no longer contains group",
          all(g["Id"] != sg_id for g in ml.list_input_security_groups()["InputSecurityGroups"]))

    request_id_checks(ml)
    cloudfront_checks(url)
    s3_policy_checks(url)
    streams_checks(url)
    schedule_checks(url)
    events_checks(url)
    check("clock: POST /moto-api/reset puts the emulator's clock back to the wall clock",
          http_json(f"{url}/ottd-emulator/clock")[1]["offset_seconds"] == 0)
    transaction_token_checks(url)

    print(f"selfcheck: {len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


def transaction_token_checks(url):
    """TransactWriteItems: a repeated ClientRequestToken is applied once; reused for another
    request it is IdempotentParameterMismatchException."""
    ddb = boto3.client(
        "dynamodb", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    table = f"selfcheck-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )

    def add(by, token=None):
        kwargs = {"ClientRequestToken": token} if token else {}
        return ddb.transact_write_items(TransactItems=[{"Update": {
            "TableName": table, "Key": {"pk": {"S": "counter"}}, "UpdateExpression": "ADD n :by",
            "ExpressionAttributeValues": {":by": {"N": str(by)}},
        }}], **kwargs)

    def counter():
        item = ddb.get_item(TableName=table, Key={"pk": {"S": "counter"}}, ConsistentRead=True).get("Item", {})
        return int(item.get("n", {}).get("N", "0"))

    add(1, "token-1")
    add(1, "token-1")
    check("transaction: the same token twice is applied once", counter() == 1, counter())
    check("transaction: the same token with other parameters -> IdempotentParameterMismatchException 400",
          error_of(add, 5, "token-1") == ("IdempotentParameterMismatchException", 400))
    check("transaction: the mismatch changed nothing", counter() == 1, counter())
    add(1, "token-2")
    check("transaction: another token is another call", counter() == 2, counter())
    add(1)
    add(1)
    check("transaction: no token, applied each time", counter() == 4, counter())
    failing = {"ConditionCheck": {
        "TableName": table, "Key": {"pk": {"S": "counter"}}, "ConditionExpression": "n = :n",
        "ExpressionAttributeValues": {":n": {"N": "99"}},
    }}
    code, _ = error_of(ddb.transact_write_items, TransactItems=[failing], ClientRequestToken="token-3")
    check("transaction: a cancelled call still cancels", code == "TransactionCanceledException", code)
    add(1, "token-3")
    check("transaction: a failed call's token is not remembered", counter() == 5, counter())
    ddb.delete_table(TableName=table)


def request_id_checks(ml):
    """CreateInput / CreateChannel repeating a RequestId return the first resource."""
    def named(items, name):
        return [x["Id"] for x in items if x.get("Name") == name and x.get("State") != "DELETED"]

    def create_input(request_id=None):
        extra = {"RequestId": request_id} if request_id else {}
        return ml.create_input(Name="selfcheck-rid", Type="UDP_PUSH", Tags={"k": "v"}, **extra)["Input"]

    first = create_input("selfcheck-rid-input")
    again = create_input("selfcheck-rid-input")
    check("request id: CreateInput again returns the first input", again["Id"] == first["Id"], (first["Id"], again["Id"]))
    check("request id: the repeat keeps the first input's destinations",
          again.get("Destinations") == first.get("Destinations"), again.get("Destinations"))
    listed = named(ml.list_inputs()["Inputs"], "selfcheck-rid")
    check("request id: one input listed", listed == [first["Id"]], listed)
    other = create_input("selfcheck-rid-input-2")
    check("request id: another RequestId creates another input", other["Id"] != first["Id"], other["Id"])
    # boto3 fills in a fresh RequestId (an idempotency token) when the caller gives none.
    fresh = [create_input()["Id"] for _ in range(2)]
    check("request id: creates without one are distinct", len(set(fresh) | {first["Id"], other["Id"]}) == 4, fresh)

    def create_channel(request_id):
        return ml.create_channel(
            Name="selfcheck-rid", ChannelClass="SINGLE_PIPELINE", RoleArn="arn:aws:iam::123456789012:role/x",
            InputAttachments=[{"InputId": first["Id"], "InputAttachmentName": "selfcheck-rid"}],
            Tags={"k": "v"}, RequestId=request_id,
        )["Channel"]

    ch = create_channel("selfcheck-rid-channel")
    ch_again = create_channel("selfcheck-rid-channel")
    check("request id: CreateChannel again returns the first channel", ch_again["Id"] == ch["Id"], (ch["Id"], ch_again["Id"]))
    listed = named(ml.list_channels()["Channels"], "selfcheck-rid")
    check("request id: one channel listed", listed == [ch["Id"]], listed)
    check("request id: a RequestId of CreateInput is not one of CreateChannel",
          create_channel("selfcheck-rid-input")["Id"] not in (ch["Id"], first["Id"]))

    for c in ml.list_channels()["Channels"]:
        if c.get("Name") == "selfcheck-rid":
            ml.delete_channel(ChannelId=c["Id"])
    for i in named(ml.list_inputs()["Inputs"], "selfcheck-rid"):
        ml.delete_input(InputId=i)


def s3_policy_checks(url):
    s3 = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    bucket = "selfcheck-tls-only"
    s3.create_bucket(Bucket=bucket)

    def policy(*extra):
        tls_only = {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(
            {"Version": "2012-10-17", "Statement": [tls_only, *extra]}))

    policy()
    check("s3: under a TLS-only policy, HeadObject of a missing key -> 404 (moto alone: 403)",
          error_of(s3.head_object, Bucket=bucket, Key="slate/x.png") == ("404", 404),
          error_of(s3.head_object, Bucket=bucket, Key="slate/x.png"))
    s3.put_object(Bucket=bucket, Key="slate/x.png", Body=b"png", ContentType="image/png")
    got = s3.get_object(Bucket=bucket, Key="slate/x.png")
    check("s3: under a TLS-only policy, PutObject then GetObject work (requests count as TLS)",
          got["Body"].read() == b"png" and got["ContentType"] == "image/png")
    policy({"Sid": "NoReadsOverTls", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}})
    check("s3: a Deny conditioned on aws:SecureTransport true still denies -> 403",
          error_of(s3.get_object, Bucket=bucket, Key="slate/x.png") == ("403", 403),
          error_of(s3.get_object, Bucket=bucket, Key="slate/x.png"))
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="slate/x.png")
    s3.delete_bucket(Bucket=bucket)


def cloudfront_checks(url):
    cf = boto3.client(
        "cloudfront", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    config = {
        "CallerReference": "selfcheck",
        "Comment": "selfcheck",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "origin", "DomainName": "origin.example.com",
            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"},
        }]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "origin", "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "08627262-05a9-4f76-9ded-b50ca2e3a84f",
        },
    }
    dist = cf.create_distribution(DistributionConfig=config)
    dist_id = dist["Distribution"]["Id"]
    got = cf.get_distribution(Id=dist_id)
    check("cloudfront: created distribution Deployed on a later read",
          got["Distribution"]["Status"] == "Deployed", got["Distribution"]["Status"])
    check("cloudfront: delete while enabled -> DistributionNotDisabled 409",
          error_of(cf.delete_distribution, Id=dist_id, IfMatch=got["ETag"]) == ("DistributionNotDisabled", 409))
    disabled = dict(got["Distribution"]["DistributionConfig"], Enabled=False)
    upd = cf.update_distribution(Id=dist_id, IfMatch=got["ETag"], DistributionConfig=disabled)
    check("cloudfront: disabling puts it InProgress", upd["Distribution"]["Status"] == "InProgress",
          upd["Distribution"]["Status"])
    check("cloudfront: delete before Deployed -> DistributionNotDisabled 409",
          error_of(cf.delete_distribution, Id=dist_id, IfMatch=upd["ETag"]) == ("DistributionNotDisabled", 409))
    got = cf.get_distribution(Id=dist_id)
    check("cloudfront: disabled distribution Deployed on a later read",
          got["Distribution"]["Status"] == "Deployed", got["Distribution"]["Status"])
    cf.delete_distribution(Id=dist_id, IfMatch=got["ETag"])
    check("cloudfront: deleted once disabled and Deployed",
          error_of(cf.get_distribution, Id=dist_id) == ("NoSuchDistribution", 404))


RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
ENVELOPE = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}


def http_json(url, method="GET"):
    with urllib.request.urlopen(urllib.request.Request(url, method=method)) as r:
        return r.status, json.loads(r.read() or b"null")


def put_events(ev, entries):
    """PutEvents, with a failure (moto alone: HTTP 500 for an SNS target) as a failed answer."""
    try:
        return ev.put_events(Entries=entries)
    except ClientError as e:
        return {"FailedEntryCount": len(entries), "Entries": [], "ResponseMetadata": e.response["ResponseMetadata"]}


def events_checks(url):
    """MediaLive state change events, the envelope, alert injection, SNS targets, restarts."""
    kw = dict(endpoint_url=url, region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    ml, ev, sqs, sns = (boto3.client(name, **kw) for name in ("medialive", "events", "sqs", "sns"))

    def queue(name):
        q = sqs.create_queue(QueueName=name)["QueueUrl"]
        return q, sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def drain(q):
        # EventBridge delivery in the emulator is synchronous: everything is there already.
        out = []
        while True:
            msgs = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])

    def states(events):
        return [(e["detail"]["state"], e["detail"].get("pipeline"), e["detail"]["pipelines_running_count"]) for e in events]

    states_q, states_arn = queue("selfcheck-state-changes")
    ev.put_rule(Name="selfcheck-medialive-states", EventPattern=json.dumps(
        {"source": ["aws.medialive"], "detail-type": ["MediaLive Channel State Change"]}))
    ev.put_targets(Rule="selfcheck-medialive-states", Targets=[{"Id": "queue", "Arn": states_arn}])

    # 1 + 2. State changes, and the envelope AWS delivers (account included, RFC 3339 time).
    ch_id = ml.create_channel(Name="selfcheck-events", ChannelClass="STANDARD",
                              RoleArn="arn:aws:iam::123456789012:role/x")["Channel"]["Id"]
    check("state events: none while CREATING", drain(states_q) == [])
    arn = ml.describe_channel(ChannelId=ch_id)["Arn"]
    seen = drain(states_q)
    check("state events: CREATED on the describe that settles the create", states(seen) == [("CREATED", None, 0)], seen)
    e = seen[0] if seen else {}
    check("envelope: exactly AWS's fields", set(e) == ENVELOPE, sorted(e))
    check("envelope: version, source, detail-type", (e.get("version"), e.get("source"), e.get("detail-type"))
          == ("0", "aws.medialive", "MediaLive Channel State Change"), e)
    check("envelope: id is a uuid4", _is_uuid4(e.get("id")), e.get("id"))
    check("envelope: account (moto alone drops it)", e.get("account") == "123456789012", e.get("account"))
    check("envelope: region", e.get("region") == "eu-west-1", e.get("region"))
    check("envelope: time RFC 3339 UTC, now", bool(RFC3339_UTC.match(str(e.get("time"))))
          and abs(time.mktime(time.strptime(e["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.mktime(time.gmtime())) < 300,
          e.get("time"))
    check("envelope: resources = [channel ARN as DescribeChannel gives it]", e.get("resources") == [arn], e.get("resources"))
    check("detail: channel_arn, message", e.get("detail", {}).get("channel_arn") == arn
          and e["detail"].get("message") == "Created channel", e.get("detail"))
    ml.describe_channel(ChannelId=ch_id)
    check("state events: a describe without a change sends nothing", drain(states_q) == [])

    check("restart: IDLE channel -> ConflictException 409",
          error_of(ml.restart_channel_pipelines, ChannelId=ch_id, PipelineIds=["PIPELINE_0"]) == ("ConflictException", 409))
    ml.start_channel(ChannelId=ch_id)
    seen = drain(states_q)
    check("state events: STARTING at StartChannel", states(seen) == [("STARTING", None, 0)], seen)
    check("restart: STARTING channel -> ConflictException 409",
          error_of(ml.restart_channel_pipelines, ChannelId=ch_id, PipelineIds=["PIPELINE_0"]) == ("ConflictException", 409))
    ml.describe_channel(ChannelId=ch_id)
    seen = drain(states_q)
    check("state events: RUNNING per pipeline on the settling describe",
          states(seen) == [("RUNNING", "0", 1), ("RUNNING", "1", 2)], states(seen))

    # 3. RestartChannelPipelines and its record.
    check("restart: unknown channel -> NotFoundException 404",
          error_of(ml.restart_channel_pipelines, ChannelId="0000000", PipelineIds=["PIPELINE_0"]) == ("NotFoundException", 404))
    check("restart: invalid pipeline id -> BadRequestException 400",
          error_of(ml.restart_channel_pipelines, ChannelId=ch_id, PipelineIds=["PIPELINE_7"]) == ("BadRequestException", 400))
    r = ml.restart_channel_pipelines(ChannelId=ch_id, PipelineIds=["PIPELINE_0"])
    check("restart: answers the channel description", r.get("Id") == ch_id and r.get("Arn") == arn
          and r.get("State") == "RUNNING", {k: r.get(k) for k in ("Id", "Arn", "State")})
    ml.restart_channel_pipelines(ChannelId=ch_id, PipelineIds=["PIPELINE_0", "PIPELINE_1"])
    ml.restart_channel_pipelines(ChannelId=ch_id)
    status, recs = http_json(f"{url}/ottd-emulator/restarts?channel_id={ch_id}")
    check("restarts: recorded in order, as requested", status == 200 and [x["pipeline_ids"] for x in recs]
          == [["PIPELINE_0"], ["PIPELINE_0", "PIPELINE_1"], []], recs)
    check("restarts: channel_id, time, account, region", all(
        x["channel_id"] == ch_id and RFC3339_UTC.match(x["time"]) and x["account"] == "123456789012"
        and x["region"] == "eu-west-1" for x in recs) and len(recs) == 3, recs)
    check("restarts: the channel stays RUNNING", ml.describe_channel(ChannelId=ch_id)["State"] == "RUNNING")
    check("restarts: no state change event (AWS documents none)", drain(states_q) == [])
    check("restarts: filter by another channel id gives nothing",
          http_json(f"{url}/ottd-emulator/restarts?channel_id=other")[1] == [])
    status, body = http_json(f"{url}/ottd-emulator/restarts", method="DELETE")
    check("restarts: DELETE clears them", status == 200 and http_json(f"{url}/ottd-emulator/restarts")[1] == [], body)
    ml.restart_channel_pipelines(ChannelId=ch_id, PipelineIds=["PIPELINE_1"])

    # 4 + 5. Alerts injected with PutEvents; a rule with an SQS and an SNS target.
    alerts_q, alerts_arn = queue("selfcheck-alerts")
    sub_q, sub_arn = queue("selfcheck-alerts-via-sns")
    topic = sns.create_topic(Name="selfcheck-alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sub_arn)
    ev.put_rule(Name="selfcheck-medialive-alerts", EventPattern=json.dumps(
        {"source": ["aws.medialive"], "detail-type": ["MediaLive Channel Alert"]}))
    ev.put_targets(Rule="selfcheck-medialive-alerts",
                   Targets=[{"Id": "queue", "Arn": alerts_arn}, {"Id": "topic", "Arn": topic}])
    alert = {"alarm_state": "SET", "alarm_id": "4b4a1c8e", "alert_type": "Video Not Detected", "pipeline": "0",
             "channel_arn": arn, "message": "Video not detected on input"}
    resp = put_events(ev, [{"Source": "aws.medialive", "DetailType": "MediaLive Channel Alert",
                            "Resources": [arn], "Detail": json.dumps(alert)}])
    entry = resp["Entries"][0] if resp.get("Entries") else {}
    check("inject: PutEvents with Source aws.medialive accepted", resp["FailedEntryCount"] == 0 and "EventId" in entry, resp)
    check("sns target: PutEvents answers 200 with no retry", resp["ResponseMetadata"]["HTTPStatusCode"] == 200
          and resp["ResponseMetadata"]["RetryAttempts"] == 0, resp["ResponseMetadata"])
    time.sleep(0.5)
    got = drain(alerts_q)
    check("sns target: the SQS target got exactly one message", len(got) == 1, len(got))
    a = got[0] if got else {}
    check("inject: delivered as MediaLive's alert", set(a) == ENVELOPE and a.get("source") == "aws.medialive"
          and a.get("detail-type") == "MediaLive Channel Alert" and a.get("detail") == alert
          and a.get("resources") == [arn] and a.get("account") == "123456789012" and a.get("region") == "eu-west-1"
          and a.get("id") == entry.get("EventId") and RFC3339_UTC.match(str(a.get("time"))), a)
    check("inject: the state change rule did not match the alert", drain(states_q) == [])
    notes = drain(sub_q)
    check("sns target: the topic's subscription got exactly one notification", len(notes) == 1
          and notes[0].get("Type") == "Notification" and notes[0].get("TopicArn") == topic, notes)
    check("sns target: the message is the event JSON", bool(notes) and json.loads(notes[0]["Message"]) == a,
          notes[0].get("Message") if notes else None)
    at = "2026-01-02T03:04:05Z"
    put_events(ev, [{"Source": "aws.medialive", "DetailType": "MediaLive Channel Alert", "Resources": [arn],
                     "Time": at, "Detail": json.dumps(dict(alert, alarm_state="CLEARED"))}])
    got = drain(alerts_q)
    check("inject: an entry's Time is the envelope's time", [x.get("time") for x in got] == [at]
          and got[0]["detail"]["alarm_state"] == "CLEARED", got)
    drain(sub_q)

    gone_q, gone_arn = queue("selfcheck-missing-topic")
    ev.put_rule(Name="selfcheck-missing-topic", EventPattern=json.dumps({"source": ["ottd.selfcheck"]}))
    ev.put_targets(Rule="selfcheck-missing-topic", Targets=[
        {"Id": "topic", "Arn": "arn:aws:sns:eu-west-1:123456789012:selfcheck-no-such-topic"},
        {"Id": "queue", "Arn": gone_arn}])
    resp = put_events(ev, [{"Source": "ottd.selfcheck", "DetailType": "x", "Detail": "{}"}])
    check("undeliverable target: PutEvents still succeeds, once", resp["FailedEntryCount"] == 0
          and resp["ResponseMetadata"]["RetryAttempts"] == 0 and len(drain(gone_q)) == 1, resp["ResponseMetadata"])

    # Stop and delete: the remaining state changes.
    ml.stop_channel(ChannelId=ch_id)
    seen = drain(states_q)
    check("state events: STOPPING per pipeline at StopChannel",
          states(seen) == [("STOPPING", "0", 1), ("STOPPING", "1", 0)], states(seen))
    ml.describe_channel(ChannelId=ch_id)
    seen = drain(states_q)
    check("state events: STOPPED per pipeline on the settling describe",
          states(seen) == [("STOPPED", "0", 0), ("STOPPED", "1", 0)], states(seen))
    ml.delete_channel(ChannelId=ch_id)
    check("state events: none while DELETING", drain(states_q) == [])
    ml.describe_channel(ChannelId=ch_id)
    seen = drain(states_q)
    check("state events: DELETED on the settling describe", states(seen) == [("DELETED", None, 0)]
          and seen[0]["detail"]["message"] == "Deleted channel", seen)

    single = ml.create_channel(Name="selfcheck-events-1", ChannelClass="SINGLE_PIPELINE",
                               RoleArn="arn:aws:iam::123456789012:role/x")["Channel"]["Id"]
    ml.describe_channel(ChannelId=single)
    ml.start_channel(ChannelId=single)
    ml.describe_channel(ChannelId=single)
    seen = drain(states_q)
    check("state events: SINGLE_PIPELINE runs one pipeline",
          states(seen) == [("CREATED", None, 0), ("STARTING", None, 0), ("RUNNING", "0", 1)], states(seen))
    check("state events: every event has its own id", len({x["id"] for x in seen}) == len(seen))

    # Last: POST /moto-api/reset clears everything, the restarts included.
    check("restarts: one recorded before the reset", len(http_json(f"{url}/ottd-emulator/restarts")[1]) == 1)
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).read()
    check("restarts: POST /moto-api/reset clears them", http_json(f"{url}/ottd-emulator/restarts")[1] == [])
    check("unknown /ottd-emulator path -> 404", _status_of(f"{url}/ottd-emulator/nothing") == 404)


# --- MediaLive schedule (schedule.py) ------------------------------------------------------------


def _post_json(url, body):
    req = urllib.request.Request(url, method="POST", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def schedule_checks(url):
    """BatchUpdateSchedule / DescribeSchedule / DeleteSchedule: each rule, all-or-nothing,
    pagination, and execution on the emulator's clock (input switches in PipelineDetails and
    as Input Change events, splices, follow actions, purge), with the test-only clock."""
    kw = dict(endpoint_url=url, region_name="ap-southeast-2", aws_access_key_id="testing",
              aws_secret_access_key="testing")
    ml, ev, sqs = (boto3.client(name, **kw) for name in ("medialive", "events", "sqs"))
    # boto3 checks required members itself; this client sends what it is given (the 400 checks).
    raw = boto3.client("medialive", config=Config(parameter_validation=False), **kw)

    def clock():
        return http_json(f"{url}/ottd-emulator/clock")[1]

    def advance(seconds):
        return _post_json(f"{url}/ottd-emulator/clock", {"advance_seconds": seconds})

    def at(seconds):
        """A fixed start `seconds` from the emulator's now."""
        t = time.time() + clock()["offset_seconds"] + seconds
        return {"FixedModeScheduleActionStartSettings": {
            "Time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"}}

    immediate = {"ImmediateModeScheduleActionStartSettings": {}}

    def follow(ref, point="START"):
        return {"FollowModeScheduleActionStartSettings": {"ReferenceActionName": ref, "FollowPoint": point}}

    def act(name, start, settings):
        return {"ActionName": name, "ScheduleActionStartSettings": start, "ScheduleActionSettings": settings}

    def switch(to):
        return {"InputSwitchSettings": {"InputAttachmentNameReference": to}}

    def splice(sid, seconds=None):
        return {"Scte35SpliceInsertSettings": dict({"SpliceEventId": sid},
                                                   **({"Duration": seconds * 90000} if seconds is not None else {}))}

    def create(channel, *actions, deletes=None, client=None):
        extra = {"Deletes": {"ActionNames": deletes}} if deletes is not None else {}
        return (client or ml).batch_update_schedule(ChannelId=channel, Creates={"ScheduleActions": list(actions)}, **extra)

    def refused(fn, *args, **kwargs):
        """(code, status, message, validation errors) of a failed call; (None, ...) if it worked."""
        try:
            fn(*args, **kwargs)
        except ClientError as e:
            return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
                    e.response["Error"].get("Message", ""), e.response.get("ValidationErrors", []))
        return None, None, "", []

    def unprocessable(result, name):
        code, status, message, errors = result
        return code == "UnprocessableEntityException" and status == 422 and f"'{name}'" in message and bool(errors)

    def names(channel, **kwargs):
        return [a["ActionName"] for a in ml.describe_schedule(ChannelId=channel, **kwargs)["ScheduleActions"]]

    def runtime(channel):
        return http_json(f"{url}/ottd-emulator/schedule/{channel}")[1]

    def active(channel):
        return [(p.get("PipelineId"), p.get("ActiveInputAttachmentName"), p.get("ActiveInputSwitchActionName"))
                for p in ml.describe_channel(ChannelId=channel).get("PipelineDetails", [])]

    q = sqs.create_queue(QueueName="selfcheck-input-changes")["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ev.put_rule(Name="selfcheck-input-changes", EventPattern=json.dumps(
        {"source": ["aws.medialive"], "detail-type": ["MediaLive Channel Input Change"]}))
    ev.put_targets(Rule="selfcheck-input-changes", Targets=[{"Id": "queue", "Arn": q_arn}])

    def drain():
        out = []
        while True:
            msgs = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])

    inp = ml.create_input(Name="selfcheck-schedule", Type="URL_PULL",
                          Sources=[{"Url": "https://example.com/a.m3u8"}, {"Url": "https://example.com/b.m3u8"}])["Input"]
    attachments = [{"InputId": inp["Id"], "InputAttachmentName": "primary"},
                   {"InputId": inp["Id"], "InputAttachmentName": "backup"}]
    encoder = {"VideoDescriptions": [], "AudioDescriptions": [], "OutputGroups": [],
               "TimecodeConfig": {"Source": "SYSTEMCLOCK"}}
    role = "arn:aws:iam::123456789012:role/selfcheck"
    std = ml.create_channel(Name="selfcheck-schedule-std", ChannelClass="STANDARD", RoleArn=role,
                            InputAttachments=attachments, EncoderSettings=encoder)["Channel"]["Id"]
    one = ml.create_channel(Name="selfcheck-schedule-one", ChannelClass="SINGLE_PIPELINE", RoleArn=role,
                            InputAttachments=attachments, EncoderSettings=dict(encoder, FeatureActivations={
                                "InputPrepareScheduleActions": "ENABLED",
                                "OutputStaticImageOverlayScheduleActions": "ENABLED"}))["Channel"]["Id"]
    for c in (std, one):
        ml.describe_channel(ChannelId=c)
    check("schedule: DescribeChannel keeps the FeatureActivations given at creation",
          ml.describe_channel(ChannelId=one)["EncoderSettings"].get("FeatureActivations") == {
              "InputPrepareScheduleActions": "ENABLED", "OutputStaticImageOverlayScheduleActions": "ENABLED"},
          ml.describe_channel(ChannelId=one)["EncoderSettings"].get("FeatureActivations"))

    # Unknown channel.
    check("schedule: unknown channel -> NotFoundException 404 (batch, describe, delete)", all(
        refused(fn, ChannelId="0000000", **extra)[:2] == ("NotFoundException", 404) for fn, extra in (
            (ml.batch_update_schedule, {"Creates": {"ScheduleActions": []}}), (ml.describe_schedule, {}),
            (ml.delete_schedule, {}))))

    # An IDLE channel takes creates; nothing runs.
    r = create(std, act("idle-switch", at(60), switch("backup")), act("idle-break", at(120), splice(7, 30)))
    check("schedule: an IDLE channel accepts creates, answered as sent",
          [a["ActionName"] for a in r["Creates"]["ScheduleActions"]] == ["idle-switch", "idle-break"]
          and r["Creates"]["ScheduleActions"][1]["ScheduleActionSettings"] == splice(7, 30)
          and r["Deletes"]["ScheduleActions"] == [], r)
    check("schedule: DescribeSchedule lists them", names(std) == ["idle-switch", "idle-break"], names(std))
    check("schedule: an IDLE channel has no PipelineDetails", active(std) == [], active(std))

    # Names unique in the schedule, and in the batch.
    check("schedule: a name already in the schedule -> UnprocessableEntityException 422 naming it",
          unprocessable(refused(create, std, act("idle-switch", at(300), switch("primary"))), "idle-switch"))
    check("schedule: a name twice in one batch -> 422",
          unprocessable(refused(create, std, act("twice", at(300), splice(20)), act("twice", at(400), splice(21))), "twice"))

    # Fixed start: 15 s to 14 days ahead of the emulator's clock.
    check("schedule: fixed start 5 s ahead -> 422", unprocessable(refused(create, std, act("soon", at(5), splice(30))), "soon"))
    check("schedule: fixed start in the past -> 422", unprocessable(refused(create, std, act("past", at(-60), splice(30))), "past"))
    check("schedule: fixed start 14 days + 1 min ahead -> 422",
          unprocessable(refused(create, std, act("far", at(14 * 86400 + 60), splice(30))), "far"))
    check("schedule: a malformed time -> 422", unprocessable(refused(create, std, act("bad-time", {
        "FixedModeScheduleActionStartSettings": {"Time": "tomorrow"}}, splice(30))), "bad-time"))
    check("schedule: fixed start 20 s and 13 days ahead accepted", refused(
        create, std, act("in-20s", at(20), splice(31)), act("in-13d", at(13 * 86400), splice(32)))[0] is None)

    # Exactly one start setting and one action setting.
    two_starts = dict(at(60), **immediate)
    check("schedule: two start settings -> 422", unprocessable(refused(create, std, act("two-starts", two_starts, splice(33))), "two-starts"))
    check("schedule: no start setting -> 422", unprocessable(refused(create, std, act("no-start", {}, splice(33))), "no-start"))
    check("schedule: two action settings -> 422", unprocessable(refused(
        create, std, act("two-kinds", at(60), dict(splice(33), **switch("backup")))), "two-kinds"))
    check("schedule: no action setting -> 422", unprocessable(refused(create, std, act("no-kind", at(60), {})), "no-kind"))

    # Follow: the reference must exist and be an input switch; only some actions may follow.
    check("schedule: follow of an unknown action -> 422",
          unprocessable(refused(create, std, act("orphan", follow("nothing"), switch("primary"))), "orphan"))
    check("schedule: follow of a splice insert (not an input switch) -> 422",
          unprocessable(refused(create, std, act("after-break", follow("idle-break"), switch("primary"))), "after-break"))
    check("schedule: a static image cannot follow -> 422", unprocessable(refused(create, std, act(
        "image-follow", follow("idle-switch"), {"StaticImageActivateSettings": {"Image": {"Uri": "s3://b/i.png"}}})),
        "image-follow"))
    check("schedule: follow of an input switch in the schedule accepted",
          refused(create, std, act("back-after", follow("idle-switch", "END"), switch("primary")))[0] is None)
    check("schedule: follow of a switch created in the same batch accepted", refused(create, std,
          act("chain-b", follow("chain-a"), splice(34)), act("chain-a", at(600), switch("primary")))[0] is None)

    # Input attachment references.
    check("schedule: input switch to an unknown attachment -> 422",
          unprocessable(refused(create, std, act("to-nowhere", at(60), switch("nowhere"))), "to-nowhere"))
    check("schedule: the input's name is not an attachment name -> 422",
          unprocessable(refused(create, std, act("by-input-name", at(60), switch("selfcheck-schedule"))), "by-input-name"))
    check("schedule: input prepare to an unknown attachment -> 422", unprocessable(refused(create, one, act(
        "prep-nowhere", at(60), {"InputPrepareSettings": {"InputAttachmentNameReference": "nowhere"}})), "prep-nowhere"))

    # Feature activations.
    prepare = {"InputPrepareSettings": {"InputAttachmentNameReference": "backup"}}
    output_image = {"StaticImageOutputActivateSettings": {"Image": {"Uri": "s3://b/slate.png"}, "OutputNames": ["hd"]}}
    check("schedule: input prepare without InputPrepareScheduleActions ENABLED -> 422",
          unprocessable(refused(create, std, act("prep", at(60), prepare)), "prep"))
    check("schedule: per-output image without OutputStaticImageOverlayScheduleActions ENABLED -> 422",
          unprocessable(refused(create, std, act("out-image", at(60), output_image)), "out-image"))
    check("schedule: both accepted on a channel that enabled them at creation",
          refused(create, one, act("prep", at(60), prepare), act("out-image", at(60), output_image))[0] is None)
    ml.delete_schedule(ChannelId=one)

    # SCTE-35 values and splice event ids.
    check("schedule: splice duration 8589934592 ticks -> 422",
          unprocessable(refused(create, std, act("too-long", at(60), {"Scte35SpliceInsertSettings": {
              "SpliceEventId": 40, "Duration": 8589934592}}), client=raw), "too-long"))
    check("schedule: splice duration 8589934591 ticks accepted", refused(create, std, act("longest", at(60), {
        "Scte35SpliceInsertSettings": {"SpliceEventId": 41, "Duration": 8589934591}}))[0] is None)
    check("schedule: a scheduled splice event id again -> 422",
          unprocessable(refused(create, std, act("same-id", at(200), splice(7, 30))), "same-id"))
    check("schedule: image layer 8 -> 422", unprocessable(refused(create, std, act("layer-8", at(60), {
        "StaticImageActivateSettings": {"Image": {"Uri": "s3://b/i.png"}, "Layer": 8}})), "layer-8"))

    # Malformed requests: 400.
    check("schedule: a splice insert without spliceEventId -> BadRequestException 400", refused(
        create, std, act("no-id", at(60), {"Scte35SpliceInsertSettings": {"Duration": 90000}}), client=raw)[:2]
        == ("BadRequestException", 400))
    check("schedule: an action without actionName -> 400", refused(create, std, {
        "ScheduleActionStartSettings": at(60), "ScheduleActionSettings": splice(42)}, client=raw)[:2]
        == ("BadRequestException", 400))
    check("schedule: maxResults 0 -> 400", refused(ml.describe_schedule, ChannelId=std, MaxResults=0)[:2]
          == ("BadRequestException", 400))
    check("schedule: an unknown nextToken -> 400", refused(ml.describe_schedule, ChannelId=std, NextToken="nope")[:2]
          == ("BadRequestException", 400))

    # Deletes run before creates; an unknown name fails; all or nothing.
    before = ml.describe_schedule(ChannelId=std)["ScheduleActions"]
    check("schedule: deleting an unknown name -> 422 naming it", unprocessable(refused(
        ml.batch_update_schedule, ChannelId=std, Deletes={"ActionNames": ["idle-break", "no-such-action"]}), "no-such-action"))
    bad_batch = refused(create, std, act("fine-1", at(300), splice(50)), act("bad-one", at(5), splice(51)),
                        deletes=["in-13d"])
    check("schedule: one bad create fails the batch (422 naming it)", unprocessable(bad_batch, "bad-one"))
    check("schedule: all or nothing: nothing created or deleted by the failed batch",
          ml.describe_schedule(ChannelId=std)["ScheduleActions"] == before)
    r = create(std, act("in-13d", at(90), splice(32, 60)), deletes=["in-13d"])
    check("schedule: delete and create the same name in one batch (deletes first)",
          [a["ActionName"] for a in r["Deletes"]["ScheduleActions"]] == ["in-13d"]
          and [a["ActionName"] for a in r["Creates"]["ScheduleActions"]] == ["in-13d"], r)
    replaced = [a for a in ml.describe_schedule(ChannelId=std)["ScheduleActions"] if a["ActionName"] == "in-13d"]
    check("schedule: the schedule has the new one", len(replaced) == 1
          and replaced[0]["ScheduleActionSettings"] == splice(32, 60), replaced)
    check("schedule: deleting a switch that an action follows -> 422", unprocessable(refused(
        ml.batch_update_schedule, ChannelId=std, Deletes={"ActionNames": ["idle-switch"]}), "idle-switch"))
    check("schedule: deleting it with its follower works", refused(
        ml.batch_update_schedule, ChannelId=std, Deletes={"ActionNames": ["back-after", "idle-switch"]})[0] is None)
    check("schedule: a splice id is free again once its action is deleted", refused(
        create, std, act("idle-break-2", at(130), splice(7, 30)), deletes=["idle-break"])[0] is None)

    # Order and pagination.
    order = names(std)
    expected = ["in-20s", "longest", "in-13d", "idle-break-2", "chain-a", "chain-b"]
    check("schedule: DescribeSchedule orders by start time (a follow right after its reference)", order == expected, order)
    pages, token = [], None
    for _ in range(10):
        page = ml.describe_schedule(ChannelId=std, MaxResults=4, **({"NextToken": token} if token else {}))
        pages.append([a["ActionName"] for a in page["ScheduleActions"]])
        token = page.get("NextToken")
        if not token:
            break
    check("schedule: pagination (maxResults 4: 4 + 2, no nextToken on the last page)",
          pages == [expected[:4], expected[4:]], pages)
    got = []
    for page in ml.get_paginator("describe_schedule").paginate(ChannelId=std, PaginationConfig={"PageSize": 1}):
        got += [a["ActionName"] for a in page["ScheduleActions"]]
    check("schedule: boto3's paginator gets them all", got == expected, got)

    # DeleteSchedule empties it.
    ml.delete_schedule(ChannelId=std)
    check("schedule: DeleteSchedule empties the schedule", names(std) == [], names(std))

    # Execution, on a RUNNING channel.
    ml.start_channel(ChannelId=one)
    ml.describe_channel(ChannelId=one)
    drain()
    check("schedule: RUNNING: PipelineDetails show the first attachment", active(one) == [("0", "primary", None)], active(one))
    arn = ml.describe_channel(ChannelId=one)["Arn"]
    create(one, act("to-backup", immediate, switch("backup")), act("prep-primary", follow("to-backup"), {
        "InputPrepareSettings": {"InputAttachmentNameReference": "primary"}}))
    check("schedule: an immediate input switch changes PipelineDetails at once (single pipeline)",
          active(one) == [("0", "backup", "to-backup")], active(one))
    seen = drain()
    e = seen[0] if seen else {}
    check("schedule: ... and sends one MediaLive Channel Input Change event", len(seen) == 1
          and set(e) == ENVELOPE and e.get("source") == "aws.medialive"
          and e.get("detail-type") == "MediaLive Channel Input Change" and e.get("resources") == [arn]
          and e.get("account") == "123456789012" and e.get("region") == "ap-southeast-2"
          and RFC3339_UTC.match(str(e.get("time"))), seen)
    check("schedule: the event's detail (pipeline, attachment, action, channel_arn, message)", e.get("detail") == {
        "pipeline": "0", "channel_arn": arn, "message": "Input switch event on pipeline",
        "active_input_attachment_name": "backup", "active_input_switch_action_name": "to-backup"}, e.get("detail"))
    rt = runtime(one)
    check("schedule: a follow START action runs when its reference starts (input prepare recorded)",
          rt["prepared_input_attachment"] == "primary" and [x["action"] for x in rt["executed"]]
          == ["to-backup", "prep-primary"], rt)
    check("schedule: a received action cannot be deleted from a running channel -> 422", unprocessable(refused(
        ml.batch_update_schedule, ChannelId=one, Deletes={"ActionNames": ["to-backup"]}), "to-backup"))
    check("schedule: a follow START of a switch that already started -> 422",
          unprocessable(refused(create, one, act("late-follow", follow("to-backup"), splice(60))), "late-follow"))

    # Breaks: active, id unique while active, ended by duration or by a return to network.
    create(one, act("break-1", immediate, splice(100, 30)), act("break-2", immediate, splice(101)))
    splices = {x["splice_event_id"]: x for x in runtime(one)["splices"]}
    check("schedule: immediate splice inserts are active", splices.get(100, {}).get("active") is True
          and splices.get(101, {}).get("active") is True and splices[100]["duration_ticks"] == 2700000, splices)
    check("schedule: an active splice event id again -> 422",
          unprocessable(refused(create, one, act("break-1-again", at(60), splice(100, 30))), "break-1-again"))
    create(one, act("back-2", immediate, {"Scte35ReturnToNetworkSettings": {"SpliceEventId": 101}}))
    advance(30)
    splices = {x["splice_event_id"]: x for x in runtime(one)["splices"]}
    check("schedule: a break ends after its duration (emulator clock advanced 30 s)",
          splices[100]["active"] is False and splices[100]["ended_by"] == "duration", splices)
    check("schedule: a return to network ends an open-ended break",
          splices[101]["active"] is False and splices[101]["ended_by"] == "back-2", splices)
    check("schedule: an ended break's splice id can be used again",
          refused(create, one, act("break-1-later", at(60), splice(100, 30)))[0] is None)

    # STANDARD: an immediate input switch starts 10 s later (both pipelines together).
    ml.start_channel(ChannelId=std)
    ml.describe_channel(ChannelId=std)
    drain()
    std_arn = ml.describe_channel(ChannelId=std)["Arn"]
    create(std, act("std-backup", immediate, switch("backup")))
    check("schedule: STANDARD: an immediate switch waits 10 s",
          active(std) == [("0", "primary", None), ("1", "primary", None)] and drain() == [], active(std))
    advance(10)
    check("schedule: ... then both pipelines switch", active(std) == [("0", "backup", "std-backup"),
                                                                      ("1", "backup", "std-backup")], active(std))
    seen = drain()
    check("schedule: ... with one Input Change event per pipeline", sorted(
        (x["detail"]["pipeline"], x["detail"]["active_input_attachment_name"], x["resources"][0]) for x in seen)
        == [("0", "backup", std_arn), ("1", "backup", std_arn)], seen)

    # Fixed actions run when the clock reaches them.
    create(std, act("std-primary", at(20), switch("primary")))
    advance(10)
    check("schedule: a fixed switch has not run 10 s before its time", active(std)[0][1] == "backup", active(std))
    advance(11)
    check("schedule: it has run once its time passed", active(std)[0][1:] == ("primary", "std-primary")
          and len(drain()) == 2, active(std))

    # Purge: an hour after its start, an action leaves the schedule and its name is free.
    create(std, act("future", at(7200), splice(200)))
    advance(3601)
    left = names(std)
    check("schedule: actions are purged an hour after their start (clock advanced 3601 s)", left == ["future"], left)
    check("schedule: a purged name can be used again",
          refused(create, std, act("std-backup", immediate, switch("backup")))[0] is None)
    advance(10)

    # Stopped: no PipelineDetails; nothing runs. Started again: the latest overdue switch applies.
    ml.stop_channel(ChannelId=std)
    ml.describe_channel(ChannelId=std)
    check("schedule: a stopped channel has no PipelineDetails", active(std) == [], active(std))
    create(std, act("while-idle", at(20), switch("primary")))
    advance(21)
    drain()
    check("schedule: nothing runs on an IDLE channel", runtime(std)["executed"][-1]["action"] == "std-backup"
          and drain() == [], runtime(std)["executed"][-1:])
    ml.start_channel(ChannelId=std)
    ml.describe_channel(ChannelId=std)
    check("schedule: on start the channel ingests the latest overdue switch's input",
          active(std) == [("0", "primary", "while-idle"), ("1", "primary", "while-idle")], active(std))

    # The test-only clock.
    status, body = advance(-1)
    check("clock: it only moves forward (negative -> 400)", status == 400, body)
    c = clock()
    check("clock: GET shows the offset and the emulator's now", c["offset_seconds"] >= 3600 + 60
          and RFC3339_UTC.match(c["now"]) is not None, c)
    check("schedule: GET /ottd-emulator/schedule/<unknown> -> 404",
          _status_of(f"{url}/ottd-emulator/schedule/0000000") == 404)

    for c in (std, one):
        ml.stop_channel(ChannelId=c)
        ml.describe_channel(ChannelId=c)
        ml.delete_channel(ChannelId=c)
        ml.describe_channel(ChannelId=c)
    check("schedule: a deleted channel's schedule -> NotFoundException 404",
          refused(ml.describe_schedule, ChannelId=std)[:2] == ("NotFoundException", 404))


# --- live streams (ottd_moto.py --streams DIR) ------------------------------------------------------


class _VirtualHost(http.client.HTTPSConnection):
    """HTTPS to the stream server on 127.0.0.1, as `host` (Host header and SNI), verified
    against the emulator's test CA."""

    def __init__(self, host, port, context):
        super().__init__(host, port, context=context, timeout=10)

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _Streams:
    def __init__(self, url, listing):
        self.api = url
        self.port = int(listing["url"].rsplit(":", 1)[1])
        self.tls = ssl.create_default_context(cafile=listing["ca_pem"])

    def get(self, host, path, headers=None, method="GET"):
        """(status, headers with lower-case names, body)."""
        conn = _VirtualHost(host, self.port, self.tls)
        try:
            conn.request(method, path, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def control(self, channel_id, what):
        req = urllib.request.Request(f"{self.api}/ottd-emulator/streams/{channel_id}", method="POST",
                                     data=json.dumps({"do": what}).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def stream(self, channel_id):
        listing = http_json(f"{self.api}/ottd-emulator/streams")[1]
        return next((x for x in listing["streams"] if x["channel_id"] == channel_id), None)


def _newest(playlist):
    """The newest segment's sequence number of a media playlist (media sequence + segments - 1)."""
    text = playlist.decode() if isinstance(playlist, bytes) else playlist
    m = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
    return (int(m.group(1)) if m else 0) + text.count("#EXTINF") - 1


def _media_sequence(playlist):
    m = re.search(rb"#EXT-X-MEDIA-SEQUENCE:(\d+)", playlist)
    return int(m.group(1)) if m else 0


def _until(deadline_s, probe):
    """Poll `probe` (returning a value or None) every 100 ms until it gives a value or the
    deadline passes; the last value (None on timeout)."""
    until = time.monotonic() + deadline_s
    while True:
        value = probe()
        if value is not None or time.monotonic() > until:
            return value
        time.sleep(0.1)


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except (ProcessLookupError, TypeError):
        return False


def streams_checks(url):
    """The live stream of a RUNNING channel, at the origin and through CloudFront, and its
    controls. Skipped when the emulator was started without --streams."""
    status, listing = _status_json(f"{url}/ottd-emulator/streams")
    if status == 404:
        print("skip streams: the emulator was started without --streams")
        return
    check("streams: the listing names the server and its CA", listing.get("url", "").startswith("https://127.0.0.1:")
          and os.path.exists(listing.get("ca_pem", "")), listing)
    st = _Streams(url, listing)
    n = listing["segment_seconds"]  # deadlines below scale with the segment length
    region = "us-west-2"
    kw = dict(endpoint_url=url, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    sm, mp, ml, cf = (boto3.client(name, **kw) for name in ("secretsmanager", "mediapackage", "medialive", "cloudfront"))

    # The workflow's shape, as ottd deploys it.
    token = uuid.uuid4().hex
    secret = sm.create_secret(Name="selfcheck/streams/cdn",
                              SecretString=json.dumps({"MediaPackageCDNIdentifier": token}))["ARN"]
    auth = {"CdnIdentifierSecret": secret, "SecretsRoleArn": "arn:aws:iam::123456789012:role/selfcheck-mediapackage"}
    mp.create_channel(Id="selfcheck-streams")
    hls = mp.create_origin_endpoint(ChannelId="selfcheck-streams", Id="selfcheck-streams-hls", Authorization=auth,
                                    HlsPackage={"SegmentDurationSeconds": 1})
    dash = mp.create_origin_endpoint(ChannelId="selfcheck-streams", Id="selfcheck-streams-dash", Authorization=auth,
                                     DashPackage={"SegmentDurationSeconds": 1, "UtcTiming": "HTTP-ISO",
                                                  "UtcTimingUri": "https://time.example.com/?iso"})
    cmaf = mp.create_origin_endpoint(ChannelId="selfcheck-streams", Id="selfcheck-streams-cmaf", Authorization=auth,
                                     CmafPackage={"SegmentDurationSeconds": 1, "HlsManifests": [
                                         {"Id": "selfcheck-streams-cmaf", "ManifestName": "index"}]})
    mp.create_origin_endpoint(ChannelId="selfcheck-streams", Id="selfcheck-streams-open",
                              HlsPackage={"SegmentDurationSeconds": 1})
    origin = f"origin-endpoint.mediapackage.{region}.amazonaws.com"
    check("streams: endpoint Urls end with their manifest, as on AWS",
          (hls["Url"], dash["Url"], cmaf["CmafPackage"]["HlsManifests"][0]["Url"])
          == (f"https://{origin}/selfcheck-streams-hls/index.m3u8", f"https://{origin}/selfcheck-streams-dash/index.mpd",
              f"https://{origin}/selfcheck-streams-cmaf/index.m3u8"), (hls["Url"], dash["Url"], cmaf))
    hls_path, dash_path = "/selfcheck-streams-hls/index.m3u8", "/selfcheck-streams-dash/index.mpd"
    cmaf_path = "/selfcheck-streams-cmaf/index.m3u8"
    inp = ml.create_input(Name="selfcheck-streams", Type="URL_PULL",
                          Sources=[{"Url": "https://example.com/live/index.m3u8"}])["Input"]
    channel = ml.create_channel(
        Name="selfcheck-streams", ChannelClass="SINGLE_PIPELINE", RoleArn="arn:aws:iam::123456789012:role/x",
        InputAttachments=[{"InputId": inp["Id"], "InputAttachmentName": "selfcheck-streams"}],
        Destinations=[{"Id": "media-destination", "MediaPackageSettings": [{"ChannelId": "selfcheck-streams"}]}],
    )["Channel"]["Id"]
    ml.describe_channel(ChannelId=channel)
    dist = cf.create_distribution(DistributionConfig={
        "CallerReference": "selfcheck-streams", "Comment": "selfcheck streams", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "mediapackage", "DomainName": origin, "OriginPath": "",
            "CustomHeaders": {"Quantity": 1, "Items": [{"HeaderName": "X-MediaPackage-CDNIdentifier", "HeaderValue": token}]},
            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"},
        }]},
        "DefaultCacheBehavior": {"TargetOriginId": "mediapackage", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "08627262-05a9-4f76-9ded-b50ca2e3a84f"},
    })["Distribution"]
    cdn = dist["DomainName"]
    with_id = {"X-MediaPackage-CDNIdentifier": token}

    check("streams: no RUNNING channel -> 404 at the origin", st.get(origin, hls_path, with_id)[0] == 404)
    ml.start_channel(ChannelId=channel)
    check("streams: the settled state is RUNNING", ml.describe_channel(ChannelId=channel)["State"] == "RUNNING")
    s = st.stream(channel)
    check("streams: an encoder runs for the RUNNING channel", s is not None and s["state"] == "running"
          and _alive(s["pid"]) and s["segment_seconds"] == n and s["encode"] == 1, s)
    started = time.monotonic()
    got = _until(10 + 5 * n, lambda: (lambda r: r if r[0] == 200 else None)(st.get(origin, hls_path, with_id)))
    check("streams: the multivariant playlist is served (first segment)", got is not None,
          f"nothing after {time.monotonic() - started:.1f} s")
    if got is None:
        return
    print(f"     (first segment served {time.monotonic() - started:.1f} s after RUNNING)")
    _, headers, master = got
    variants = re.findall(rb"#EXT-X-STREAM-INF:[^\n]*\n([^\n#]+)", master)
    check("streams: origin with the header -> 200, a multivariant playlist with >= 2 variants",
          master.startswith(b"#EXTM3U") and len(variants) >= 2, master)
    check("streams: Access-Control-Allow-Origin: *", headers.get("access-control-allow-origin") == "*", headers)
    check("streams: origin without the header -> 403", st.get(origin, hls_path)[0] == 403)
    check("streams: origin with a wrong header -> 403",
          st.get(origin, hls_path, {"X-MediaPackage-CDNIdentifier": "wrong"})[0] == 403)
    check("streams: an endpoint without CDN authorization needs no header",
          st.get(origin, "/selfcheck-streams-open/index.m3u8")[0] == 200)
    check("streams: an unknown endpoint -> 404", st.get(origin, "/selfcheck-nothing/index.m3u8", with_id)[0] == 404)

    low = "/selfcheck-streams-hls/" + variants[-1].decode().strip()
    status, _, media = st.get(origin, low, with_id)
    check("streams: the media playlist is live HLS (target duration = segment seconds, no end)", status == 200
          and f"#EXT-X-TARGETDURATION:{n}\n".encode() in media and b"#EXT-X-ENDLIST" not in media, media)
    pdt = re.findall(rb"#EXT-X-PROGRAM-DATE-TIME:(\S+)", media)
    check("streams: program date-times are RFC 3339 UTC (Z)", bool(pdt) and all(
          RFC3339_UTC.match(p.decode()) for p in pdt), pdt)
    segment = "/selfcheck-streams-hls/" + re.findall(rb"\n([^\n#]+\.ts)", media)[-1].decode()
    status, seg_headers, seg = st.get(origin, segment, with_id)
    check("streams: a TS segment starts with sync bytes 0x47 every 188 bytes", status == 200 and len(seg) > 188 * 4
          and all(seg[i * 188] == 0x47 for i in range(4)), (status, seg[:8]))
    status, h, part = st.get(origin, segment, dict(with_id, Range="bytes=0-187"))
    check("streams: Range -> 206 with Content-Range", status == 206 and len(part) == 188 and part[0] == 0x47
          and h.get("content-range") == f"bytes 0-187/{len(seg)}", (status, h))
    check("streams: If-None-Match with the ETag -> 304",
          st.get(origin, segment, dict(with_id, **{"If-None-Match": seg_headers["etag"]}))[0] == 304)
    check("streams: If-Modified-Since with Last-Modified -> 304",
          st.get(origin, segment, dict(with_id, **{"If-Modified-Since": seg_headers["last-modified"]}))[0] == 304)
    check("streams: an unsatisfiable Range -> 416",
          st.get(origin, segment, dict(with_id, Range=f"bytes={len(seg) + 10}-"))[0] == 416)
    first = _newest(media)
    moved = _until(3 + 2 * n, lambda: (lambda m: m if _newest(m) > first else None)(st.get(origin, low, with_id)[2]))
    check("streams: the media playlist advances", moved is not None, first)

    status, _, mpd = st.get(origin, dash_path, with_id)
    publish = re.search(rb'publishTime="([^"]+)"', mpd)
    check("streams: the MPD is type=\"dynamic\" with a publishTime", status == 200 and b'type="dynamic"' in mpd
          and publish is not None, mpd[:300])
    check("streams: the MPD carries the package's UtcTiming",
          b'<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="https://time.example.com/?iso"/>' in mpd)
    later = _until(3 + 2 * n, lambda: (lambda m: m if re.search(rb'publishTime="([^"]+)"', m).group(1) != publish.group(1)
                                          else None)(st.get(origin, dash_path, with_id)[2]))
    check("streams: the MPD's publishTime advances", later is not None)
    init = st.get(origin, "/selfcheck-streams-dash/init-stream0.m4s", with_id)
    check("streams: DASH init segment (ftyp)", init[0] == 200 and init[2][4:8] == b"ftyp", init[:2])
    status, _, cmaf_master = st.get(origin, cmaf_path, with_id)
    cmaf_variant = re.findall(rb"#EXT-X-STREAM-INF:[^\n]*\n([^\n#]+)", cmaf_master)
    cmaf_media = st.get(origin, "/selfcheck-streams-cmaf/" + cmaf_variant[0].decode().strip(), with_id)[2] \
        if cmaf_variant else b""
    cmaf_seg = re.findall(rb"\n([^\n#]+\.mp4)", cmaf_media)
    body = st.get(origin, "/selfcheck-streams-cmaf/" + cmaf_seg[-1].decode(), with_id)[2] if cmaf_seg else b""
    check("streams: CMAF endpoint serves HLS with fMP4 segments (EXT-X-MAP, moof)", status == 200
          and b"#EXT-X-MAP:" in cmaf_media and body[4:8] in (b"moof", b"styp"), (status, cmaf_media[:200]))
    s = st.stream(channel)
    check("streams: the listing dates the first segment (RFC 3339, ms)",
          re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", str(s.get("first_segment_at"))) is not None, s)

    # Through CloudFront: no header needed, the distribution adds it.
    status, h, cdn_master = st.get(cdn, hls_path)
    check("streams: CDN hop -> 200 without the header", status == 200 and cdn_master.startswith(b"#EXTM3U")
          and "cloudfront" in h.get("via", "").lower() and h.get("access-control-allow-origin") == "*", (status, h))
    check("streams: CDN hop serves segments", st.get(cdn, segment)[2][:1] == b"\x47")
    check("streams: an unknown distribution -> 404", st.get("d0000000000000.cloudfront.net", hls_path)[0] == 404)

    # Counters: one request at each hop.
    with urllib.request.urlopen(urllib.request.Request(f"{url}/ottd-emulator/streams/counters", method="DELETE")) as r:
        check("streams: DELETE counters", r.status == 200)
    _, _, a = st.get(origin, hls_path, with_id)
    _, _, b = st.get(cdn, hls_path)
    hops = st.stream(channel)["hops"]
    check("streams: counters per hop (requests, bytes)", hops["origin"] == {"requests": 1, "bytes": len(a)}
          and hops["cdn"] == {"requests": 1, "bytes": len(b)} and hops["cdn_to_origin"]["requests"] == 1, hops)

    # break / mend: CloudFront refuses, the origin still answers.
    status, body = st.control(channel, "break")
    check("streams: break -> state broken", status == 200 and body["state"] == "broken", body)
    check("streams: break -> CDN 403, origin 200",
          (st.get(cdn, hls_path)[0], st.get(origin, hls_path, with_id)[0]) == (403, 200))
    st.control(channel, "mend")
    check("streams: mend -> CDN 200", st.get(cdn, hls_path)[0] == 200)

    # freeze / thaw: the playlist stops, then moves again.
    status, body = st.control(channel, "freeze")
    check("streams: freeze -> state frozen", status == 200 and body["state"] == "frozen", body)
    frozen = st.get(origin, low, with_id)[2]
    changed = _until(2.5 * n, lambda: (lambda m: m if m != frozen else None)(st.get(origin, low, with_id)[2]))
    check("streams: frozen, the playlist stays the same", changed is None)
    st.control(channel, "thaw")
    thawed = _until(3 + 2 * n, lambda: (lambda m: m if _newest(m) > _newest(frozen) else None)(st.get(origin, low, with_id)[2]))
    check("streams: thaw -> the playlist advances again", thawed is not None)
    seq = _until(4 + 7 * n, lambda: (lambda m: m if _media_sequence(m) > 0 else None)(st.get(origin, low, with_id)[2]))
    check("streams: #EXT-X-MEDIA-SEQUENCE advances once the window is full", seq is not None)
    before_restart = _newest(seq or thawed or frozen)

    # RestartChannelPipelines: a fresh encode, the sequence starts again.
    old_pid = st.stream(channel)["pid"]
    ml.restart_channel_pipelines(ChannelId=channel, PipelineIds=["PIPELINE_0"])
    s = st.stream(channel)
    check("streams: restart -> a new encoder", s["encode"] == 2 and s["pid"] != old_pid and not _alive(old_pid), s)
    reset = _until(8 + 2 * n, lambda: (lambda r: r[2] if r[0] == 200 and _newest(r[2]) < before_restart else None)(
        st.get(origin, low, with_id)))
    check("streams: restart -> the sequence resets", reset is not None, before_restart)

    # stop / start: the stream goes stale (still served), then a new encode.
    status, body = st.control(channel, "stop")
    check("streams: stop -> the encoder is gone", status == 200 and body["state"] == "stopped"
          and body["pid"] is None and not _alive(s["pid"]), body)
    stale = st.get(origin, low, with_id)
    check("streams: stopped, the last playlist is still served", stale[0] == 200 and b"#EXT-X-ENDLIST" not in stale[2])
    status, body = st.control(channel, "start")
    check("streams: start -> a new encoder", status == 200 and body["state"] == "running" and body["encode"] == 3
          and _alive(body["pid"]), body)
    check("streams: an unknown action -> 400", st.control(channel, "dance")[0] == 400)

    # A break (immediate SCTE-35 splice insert, 3 s): cue markers on an endpoint with ad markers.
    mp.create_origin_endpoint(ChannelId="selfcheck-streams", Id="selfcheck-streams-ads", HlsPackage={
        "SegmentDurationSeconds": 1, "AdMarkers": "PASSTHROUGH", "AdTriggers": ["SPLICE_INSERT"]})
    ads = _until(10 + 5 * n, lambda: (lambda r: r[2] if r[0] == 200 else None)(
        st.get(origin, "/selfcheck-streams-ads/index.m3u8")))
    ads_low = "/selfcheck-streams-ads/" + re.findall(rb"#EXT-X-STREAM-INF:[^\n]*\n([^\n#]+)", ads or b"")[-1].decode().strip()
    ml.batch_update_schedule(ChannelId=channel, Creates={"ScheduleActions": [{
        "ActionName": "selfcheck-break", "ScheduleActionStartSettings": {"ImmediateModeScheduleActionStartSettings": {}},
        "ScheduleActionSettings": {"Scte35SpliceInsertSettings": {"SpliceEventId": 1, "Duration": 3 * 90000}}}]})
    cue_out = _until(6 + 3 * n, lambda: (lambda m: m if b"#EXT-X-CUE-OUT:3.000\n" in m else None)(
        st.get(origin, ads_low)[2]))
    check("streams: a break -> #EXT-X-CUE-OUT:3.000 before a segment (AdMarkers PASSTHROUGH)", cue_out is not None
          and re.search(rb"\n[^#\n][^\n]*\n#EXT-X-CUE-OUT:3.000\n#EXTINF", cue_out) is not None, cue_out)
    cue_in = _until(8 + 3 * n, lambda: (lambda m: m if b"#EXT-X-CUE-IN\n" in m else None)(st.get(origin, ads_low)[2]))
    check("streams: ... and #EXT-X-CUE-IN once it is over", cue_in is not None
          and cue_in.index(b"#EXT-X-CUE-IN") > cue_in.find(b"#EXT-X-CUE-OUT"), cue_in)
    check("streams: no cue markers on an endpoint without AdMarkers", b"#EXT-X-CUE" not in st.get(origin, low, with_id)[2])
    check("streams: an unknown channel -> 404", st.control("0000000", "freeze")[0] == 404)

    # StopChannel: the encoder is killed and the origin has nothing to serve.
    pid = st.stream(channel)["pid"]
    ml.stop_channel(ChannelId=channel)
    ml.describe_channel(ChannelId=channel)
    s = st.stream(channel)
    check("streams: StopChannel -> ffmpeg gone", s["state"] == "stopped" and not _alive(pid), s)
    check("streams: stopped channel -> 404 at the origin", st.get(origin, hls_path, with_id)[0] == 404)
    check("streams: start on an IDLE channel -> 409", st.control(channel, "start")[0] == 409)
    ml.delete_channel(ChannelId=channel)
    ml.describe_channel(ChannelId=channel)


def _status_json(url):
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def _is_uuid4(value):
    try:
        return uuid.UUID(str(value)).version == 4
    except ValueError:
        return False


def _status_of(url):
    try:
        with urllib.request.urlopen(url) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
