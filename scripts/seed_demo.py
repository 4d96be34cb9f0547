#!/usr/bin/env python3
"""Seed or change the demo account on moto's server (boto3 comes with moto).

Usage: seed_demo.py ENDPOINT seed|planned|unplanned|queue|event QUEUE_URL
"""
import datetime
import json
import sys

import boto3

endpoint, step = sys.argv[1], sys.argv[2]
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")


def group_id(name):
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    return groups[0]["GroupId"]


def tcp(port, cidr, desc):
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
            "IpRanges": [{"CidrIp": cidr, "Description": desc}]}


if step == "seed":
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "ml-platform"}])
    groups = {
        "training-cluster": ("GPU training nodes", [tcp(22, "10.8.0.0/16", "office VPN")]),
        "inference-api": ("Public model inference API", [tcp(443, "0.0.0.0/0", "public HTTPS")]),
        "jupyter-notebooks": ("Research notebooks", [tcp(8888, "10.8.0.0/16", "office VPN")]),
    }
    for name, (desc, perms) in groups.items():
        gid = ec2.create_security_group(GroupName=name, Description=desc, VpcId=vpc,
                                        TagSpecifications=[{"ResourceType": "security-group",
                                                            "Tags": [{"Key": "team", "Value": "ml-platform"}]}])["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=perms)
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
    iam.create_role(RoleName="ml-training-job", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="ml-training-job", PolicyName="read-datasets",
                        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::datasets","arn:aws:s3:::datasets/*"]}]}')
    iam.create_user(UserName="alice")
    print(f"    seeded VPC {vpc} with security groups: {', '.join(groups)}; IAM role ml-training-job, user alice")
elif step == "planned":
    ec2.authorize_security_group_ingress(GroupId=group_id("inference-api"),
                                         IpPermissions=[tcp(8443, "10.20.0.0/16", "internal LB (STD-0007)")])
    print("    inference-api: + tcp 8443 from 10.20.0.0/16  (covered by STD-0007)")
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    iam.put_role_policy(RoleName="ml-training-job", PolicyName="write-results",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Sid": "WriteResults", "Effect": "Allow", "Action": "s3:PutObject",
                             "Resource": "arn:aws:s3:::results/*"}]}))
    print("    ml-training-job: + inline policy write-results  (the Terraform plan STD-0118 approved)")
elif step == "unplanned":
    gid = group_id("jupyter-notebooks")
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        tcp(22, "0.0.0.0/0", "temp debug"), tcp(8888, "0.0.0.0/0", "temp debug")])
    print("    jupyter-notebooks: + tcp 22 and tcp 8888 from 0.0.0.0/0  (no change record)")
elif step == "queue":
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    print(sqs.create_queue(QueueName="driftwatch-events")["QueueUrl"])
elif step == "event":
    # What CloudTrail records and EventBridge puts on the queue when bob opens a port from
    # the console through his SSO permission set (the documented event shape).
    queue = sys.argv[3]
    gid = group_id("training-cluster")
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[tcp(6443, "0.0.0.0/0", "k8s api, quick test")])
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    role = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
    detail = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole", "principalId": "AROAEXAMPLE:bob@example.com",
            "arn": f"arn:aws:sts::123456789012:assumed-role/{role}/bob@example.com",
            "accountId": "123456789012",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role,
                                                 "arn": f"arn:aws:iam::123456789012:role/{role}",
                                                 "accountId": "123456789012"}},
        },
        "eventTime": now, "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress", "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7", "userAgent": "AWS Internal",
        "requestParameters": {"groupId": gid, "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 6443, "toPort": 6443,
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
        "responseElements": {"_return": True}, "eventID": "demo-0001-6443",
        "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": "123456789012",
    }
    body = {"version": "0", "id": "demo-eb-1", "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.ec2", "account": "123456789012", "time": now, "region": "us-east-1",
            "resources": [], "detail": detail}
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    print("    training-cluster: + tcp 6443 from 0.0.0.0/0 by bob@example.com (SSO), and its CloudTrail event on the queue")
else:
    sys.exit(f"unknown step {step}")
