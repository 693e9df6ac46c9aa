"""Lab data: seed documents and indexes in MongoDB; bucket, CDN and load balancer in moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
         "region_name": "us-east-1"}


def seed_mongo(uri: str) -> bool:
    import pymongo

    client: Any = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
    try:
        db = client["smartwallet"]
        if db["users"].estimated_document_count() == 0:
            now = datetime(2026, 1, 1, tzinfo=UTC)
            db["users"].insert_many([
                {"email": f"user{i}@example.com", "name": f"User {i}",
                 "createdAt": now + timedelta(days=i)} for i in range(50)])
            db["transactions"].insert_many([
                {"userId": i % 50, "amount": (i * 37) % 500 / 10, "date": now + timedelta(hours=i),
                 "category": ("food", "rent", "travel")[i % 3]} for i in range(300)])
            db["budgets"].insert_many([{"userId": i, "limit": 1000 + i} for i in range(50)])
        db["users"].create_index("email", unique=True, name="email_1")
        db["users"].create_index([("createdAt", -1)], name="createdAt_-1")
        db["transactions"].create_index([("userId", 1), ("date", -1)], name="userId_1_date_-1")
        db["budgets"].create_index("userId", name="userId_1")
        return True
    finally:
        client.close()


def _client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, **CREDS)


def aws_present(endpoint: str, ids: dict[str, str]) -> bool:
    """The resources recorded in the lab state still exist (moto keeps state in memory)."""
    try:
        _client("elbv2", endpoint).describe_listeners(ListenerArns=[ids["listener_arn"]])
        _client("s3", endpoint).head_bucket(Bucket=ids["bucket"])
        return True
    except Exception:  # botocore errors or a missing key: recreate
        return False


def seed_aws(endpoint: str, hosts: dict[str, str], app_port: int) -> dict[str, str]:
    s3 = _client("s3", endpoint)
    bucket = "smartwallet-frontend"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"<h1>SmartWallet 1.0.0</h1>\n")
    s3.create_bucket(Bucket="smartwallet-backups")
    cf = _client("cloudfront", endpoint)
    dist = cf.create_distribution(DistributionConfig={
        "CallerReference": "swrun-lab",
        "Comment": "swrun lab frontend",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "s3-frontend", "DomainName": f"{bucket}.s3.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "s3-frontend", "ViewerProtocolPolicy": "redirect-to-https",
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "MinTTL": 0},
    })["Distribution"]
    ec2 = _client("ec2", endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{i}.0/24",
                                 AvailabilityZone=f"us-east-1{az}")["Subnet"]["SubnetId"]
               for i, az in ((1, "a"), (2, "b"))]
    elb = _client("elbv2", endpoint)
    lb = elb.create_load_balancer(Name="smartwallet-alb", Subnets=subnets)["LoadBalancers"][0]
    groups = {}
    for slot, addr in hosts.items():
        tg = elb.create_target_group(Name=f"smartwallet-{slot}", Protocol="HTTP",
                                     Port=app_port, VpcId=vpc, TargetType="ip",
                                     HealthCheckPath="/health")["TargetGroups"][0]
        elb.register_targets(TargetGroupArn=tg["TargetGroupArn"],
                             Targets=[{"Id": addr, "Port": app_port}])
        groups[slot] = tg["TargetGroupArn"]
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": groups["blue"], "Weight": 100},
            {"TargetGroupArn": groups["green"], "Weight": 0}]}}],
    )["Listeners"][0]
    return {
        "bucket": bucket,
        "backup_bucket": "smartwallet-backups",
        "distribution_id": dist["Id"],
        "listener_arn": listener["ListenerArn"],
        "blue_tg_arn": groups["blue"],
        "green_tg_arn": groups["green"],
        "load_balancer_arn": lb["LoadBalancerArn"],
    }
