#!/usr/bin/env python3
"""Self-check of ottd_moto.py's extension (no pytest): MediaLive input security groups,
push inputs and the RequestId of CreateInput / CreateChannel, CloudFront's
disable-then-delete rules.

Usage: python selfcheck.py http://127.0.0.1:PORT
Exits 0 when every check passes, 1 otherwise. Needs boto3 (installed with moto).
"""

import sys

import boto3
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

    print(f"selfcheck: {len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


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


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
