"""aws steps through the engine against a real moto server: S3, CloudFront, ALB weights,
Secrets Manager."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swrun.events import StepFinished, StepOutput, StepStatus
from swrun.executors.aws import fetch_secret
from swrun.executors.base import StepContext
from swrun.parser import load_runbook

from helpers import run_events, write_runbook

if TYPE_CHECKING:
    from servers import Moto

pytest_plugins = ["servers"]


def aws_book(tmp_path: Path, moto: Moto, *bodies: str, attrs: str = "",
             front: str = "") -> Path:
    text = f"""\
+++
{front}
[vars.AWS_ENDPOINT_URL]
default = "{moto.url}"
+++
# Deploy
"""
    for i, body in enumerate(bodies, 1):
        text += f"""
## Step {i}

```aws {{{attrs}}}
{body}
```
"""
    return write_runbook(tmp_path, text)


def run(path: Path) -> tuple[list[StepFinished], list[str]]:
    events = run_events(path)
    return ([e for e in events if isinstance(e, StepFinished)],
            [e.line for e in events if isinstance(e, StepOutput)])


def site(root: Path) -> Path:
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>v1</html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    (dist / "assets" / "app.css").write_text("body{}")
    return dist


def test_s3_sync_uploads_only_what_changed_and_deletes(tmp_path: Path, aws: Moto) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="frontend")
    s3.put_object(Bucket="frontend", Key="web/old.js", Body=b"stale")
    s3.put_object(Bucket="frontend", Key="other/keep.txt", Body=b"outside the prefix")
    dist = site(tmp_path)
    line = "s3 sync dist s3://frontend/web --delete"
    [first], out = run(aws_book(tmp_path, aws, line))
    assert first.status is StepStatus.OK, first.error
    data = first.data["ops"][0]
    assert (data["uploaded"], data["unchanged"], data["deleted"]) == (3, 0, 1)
    assert sorted(data["uploaded_keys"]) == ["web/assets/app.css", "web/assets/app.js",
                                             "web/index.html"]
    assert data["deleted_keys"] == ["web/old.js"]
    assert "  ✗ deleted s3://frontend/web/old.js" in out
    head = s3.head_object(Bucket="frontend", Key="web/index.html")
    assert head["ContentType"] == "text/html"
    assert s3.get_object(Bucket="frontend", Key="other/keep.txt")["Body"].read()

    (dist / "index.html").write_text("<html>v2</html>")  # same size, new content
    [second], out = run(aws_book(tmp_path, aws, line))
    data = second.data["ops"][0]
    assert (data["uploaded"], data["unchanged"], data["deleted"]) == (1, 2, 0)
    assert data["uploaded_keys"] == ["web/index.html"]
    body = s3.get_object(Bucket="frontend", Key="web/index.html")["Body"].read()
    assert body == b"<html>v2</html>"
    assert out[-1].startswith("✓ s3 sync ") and "1 uploaded" in out[-1]


def test_s3_put_and_get_round_trip(tmp_path: Path, aws: Moto) -> None:
    aws.client("s3").create_bucket(Bucket="artifacts")
    (tmp_path / "release.tgz").write_bytes(b"\x1f\x8b" + bytes(range(256)) * 40)
    [put, get], _ = run(aws_book(tmp_path, aws, "s3 put release.tgz s3://artifacts/r/1.tgz",
                                 "s3 get s3://artifacts/r/1.tgz back/1.tgz"))
    assert put.status is StepStatus.OK and get.status is StepStatus.OK, (put.error, get.error)
    assert (tmp_path / "back" / "1.tgz").read_bytes() == (tmp_path / "release.tgz").read_bytes()
    assert put.data["ops"][0]["etag"] == get.data["ops"][0]["etag"]
    assert get.data["ops"][0]["bytes"] == 2 + 256 * 40


def test_missing_bucket_is_one_clear_line(tmp_path: Path, aws: Moto) -> None:
    site(tmp_path)
    [done], _ = run(aws_book(tmp_path, aws, "s3 sync dist s3://no-such-bucket"))
    assert done.status is StepStatus.FAILED
    assert done.error == ("aws: s3 sync to bucket no-such-bucket: the bucket does not exist "
                          "(NoSuchBucket)")


def test_cloudfront_invalidation_is_polled_to_completion(tmp_path: Path, aws: Moto) -> None:
    cf = aws.client("cloudfront")
    dist = cf.create_distribution(DistributionConfig={
        "CallerReference": "t", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "s3", "DomainName": "frontend.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "s3", "ViewerProtocolPolicy": "allow-all",
                                 "MinTTL": 0, "ForwardedValues": {
                                     "QueryString": False, "Cookies": {"Forward": "none"}},
                                 "TrustedSigners": {"Enabled": False, "Quantity": 0}},
    })["Distribution"]["Id"]
    [done], out = run(aws_book(tmp_path, aws, f"cloudfront invalidate {dist} /* /index.html",
                               attrs="interval=100ms"))
    assert done.status is StepStatus.OK, done.error
    data = done.data["ops"][0]
    assert data["distribution"] == dist and data["paths"] == ["/*", "/index.html"]
    assert data["status"].lower() == "completed"
    assert out[-1].startswith(f"✓ cloudfront invalidation {data['invalidation_id']} completed")


def _alb(aws: Moto) -> tuple[str, dict[str, str]]:
    ec2, elb = aws.client("ec2"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                 AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    lb = elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]
    tgs = {name: elb.create_target_group(Name=name, Protocol="HTTP", Port=80,
                                         VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
           for name in ("blue", "green")}
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tgs["blue"], "Weight": 90},
            {"TargetGroupArn": tgs["green"], "Weight": 10}]}}])["Listeners"][0]["ListenerArn"]
    return listener, tgs


def test_traffic_shift_records_before_and_after(tmp_path: Path, aws: Moto) -> None:
    listener, tgs = _alb(aws)
    path = aws_book(tmp_path, aws, f"traffic {listener} blue=50 green=50",
                    f"traffic {listener} blue=0 {tgs['green']}=100",
                    front=f'[vars.LISTENER]\ndefault = "{listener}"')
    [half, full], out = run(path)
    assert half.status is StepStatus.OK, half.error
    assert half.data["ops"][0]["before"] == {"blue": 90, "green": 10}
    assert half.data["ops"][0]["after"] == {"blue": 50, "green": 50}
    assert full.data["ops"][0]["after"] == {"blue": 0, "green": 100}
    assert out[0].endswith(": blue 90→50, green 10→50")
    weights = aws.client("elbv2").describe_listeners(ListenerArns=[listener])["Listeners"][0]
    forward = weights["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    assert {g["TargetGroupArn"]: g["Weight"] for g in forward} == {tgs["blue"]: 0,
                                                                   tgs["green"]: 100}


def test_traffic_refuses_to_leave_a_target_group_out(tmp_path: Path, aws: Moto) -> None:
    listener, _ = _alb(aws)
    [done], _ = run(aws_book(tmp_path, aws, f"traffic {listener} green=100"))
    assert done.status is StepStatus.FAILED
    assert done.error == ("aws: traffic: blue also receives traffic from this listener; give "
                          "every target group a weight (0 to drain it)")


def test_secrets_manager_value_for_a_variable(tmp_path: Path, aws: Moto) -> None:
    aws.client("secretsmanager").create_secret(Name="prod/mongo", SecretString="mongodb://x")
    rb = load_runbook(aws_book(tmp_path, aws, "s3 put a s3://b/k"))
    ctx = StepContext(runbook=rb, variables={"AWS_ENDPOINT_URL": aws.url},
                      env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_REGION": "us-east-1"}, cancel=threading.Event())
    assert fetch_secret("prod/mongo", ctx) == "mongodb://x"


def test_endpoint_and_region_from_the_inventory(tmp_path: Path, aws: Moto) -> None:
    aws.client("s3").create_bucket(Bucket="inv")
    (tmp_path / "inv.ini").write_text(f"[all:vars]\naws_endpoint_url={aws.url}\n"
                                      "aws_region=us-east-1\n\n[web]\nweb1\n")
    (tmp_path / "f.txt").write_text("x")
    path = write_runbook(tmp_path, '+++\ninventory = "inv.ini"\n+++\n# T\n\n'
                         "```aws\ns3 put f.txt s3://inv/f.txt\n```\n")
    events: list[Any] = run_events(path)
    [done] = [e for e in events if isinstance(e, StepFinished)]
    assert done.status is StepStatus.OK, done.error
    assert aws.client("s3").get_object(Bucket="inv", Key="f.txt")["Body"].read() == b"x"


def test_the_region_comes_from_attribute_then_variable_then_inventory_then_environment(
        tmp_path: Path, aws: Moto) -> None:
    """Each tier names another region; moto keeps Secrets Manager per region, so the secret
    read back says which region the step's configuration really used."""
    import boto3

    from swrun.executors.aws import aws_config

    tiers = {"attribute": "ap-south-1", "variable": "eu-west-2", "inventory": "us-west-1",
             "environment": "ca-central-1"}
    for tier, region in tiers.items():
        boto3.client("secretsmanager", endpoint_url=aws.url, region_name=region,
                     aws_access_key_id="testing", aws_secret_access_key="testing"
                     ).create_secret(Name="where", SecretString=tier)
    (tmp_path / "inv.ini").write_text(f"[all:vars]\naws_region={tiers['inventory']}\n\n"
                                      "[web]\nweb1\n")
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": tiers["environment"]}

    def used(*, attribute: bool, variable: bool, inventory: bool) -> str:
        attrs = f"{{region={tiers['attribute']}}}" if attribute else ""
        front = '+++\ninventory = "inv.ini"\n+++\n' if inventory else ""
        path = write_runbook(tmp_path, f"{front}# T\n\n```aws {attrs}\ns3 put a s3://b/k\n```\n")
        rb = load_runbook(path)
        variables = {"AWS_ENDPOINT_URL": aws.url}
        if variable:
            variables["AWS_REGION"] = tiers["variable"]
        ctx = StepContext(runbook=rb, variables=variables, env=env, cancel=threading.Event())
        return fetch_secret("where", ctx, aws_config(rb.steps[0], ctx))

    assert used(attribute=True, variable=True, inventory=True) == "attribute"
    assert used(attribute=False, variable=True, inventory=True) == "variable"
    assert used(attribute=False, variable=False, inventory=True) == "inventory"
    assert used(attribute=False, variable=False, inventory=False) == "environment"
