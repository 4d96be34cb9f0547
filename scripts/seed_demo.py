#!/usr/bin/env python3
"""Seed or change the demo account on moto's server (boto3 comes with moto).

Usage: seed_demo.py ENDPOINT seed|planned|unplanned
"""
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
elif step == "unplanned":
    gid = group_id("jupyter-notebooks")
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        tcp(22, "0.0.0.0/0", "temp debug"), tcp(8888, "0.0.0.0/0", "temp debug")])
    print("    jupyter-notebooks: + tcp 22 and tcp 8888 from 0.0.0.0/0  (no change record)")
else:
    sys.exit(f"unknown step {step}")
