#!/usr/bin/env python3
"""Seed moto with N security groups x 5 rules (every 50th group opens SSH to the world) and a
few hundred IAM users, roles and policies, for the side-by-side benchmark.

Usage: seed_many.py ENDPOINT GROUPS
"""
import sys

import boto3

endpoint, n = sys.argv[1], int(sys.argv[2])
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ec2 = boto3.client("ec2", **kw)
iam = boto3.client("iam", **kw)
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
for g in range(n):
    gid = ec2.create_security_group(GroupName=f"svc-{g}", Description=f"service {g}", VpcId=vpc)["GroupId"]
    perms = [{"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": f"10.{g % 250}.0.0/16"}]}
             for p in (443, 8080, 9090, 5432)]
    cidr = "0.0.0.0/0" if g % 50 == 0 else "10.8.0.0/16"
    perms.append({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr}]})
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=perms)
trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
for i in range(200):
    iam.create_user(UserName=f"user-{i}")
for i in range(100):
    iam.create_role(RoleName=f"role-{i}", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName=f"role-{i}", PolicyName="read", PolicyDocument=doc)
for i in range(50):
    iam.create_policy(PolicyName=f"policy-{i}", PolicyDocument=doc)
print(f"seeded {n} security groups x 5 rules, 200 users, 100 roles, 50 policies")
